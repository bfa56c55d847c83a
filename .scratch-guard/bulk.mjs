// size-parametrised shapes: fill(n) returns a string of about n chars
const fill = (unit, n) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
export const bulk = {
  prose: (n) => fill('Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n', n),
  paragraphs: (n) => fill('Some text here and there.\nMore text.\n\n', n),
  one_long_line: (n) => fill('abcdefghij', n),
  spaces_line: (n) => fill(' ', n - 2) + 'x\n',
  blank_lines: (n) => fill('\n', n),
  headings: (n) => fill('## Step\n\nText.\n\n', n),
  runbook: (n) => fill('## Check {#c}\n\nRun this:\n\n```ssm\ndocument: AWS-RunShellScript\n```\n\n- a\n  - b\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n> note\n\n', n),
  unclosed_fence: (n) => '```bash\n' + fill('echo hello world\n', n - 8),
  unclosed_fence_tilde: (n) => '~~~\n' + fill('echo hello world\n', n - 4),
  many_fences_unclosed_inner: (n) => fill('```\n````\n', n),
  star_open_words: (n) => fill('*a ', n),
  star_open_nospace: (n) => fill('*a', n),
  under_open_words: (n) => fill('_a ', n),
  strong_open_words: (n) => fill('**a ', n),
  star_close_words: (n) => fill('a* ', n),
  star_alternating: (n) => fill('*a**b ', n),
  stars_only: (n) => fill('*', n),
  stars_spaced: (n) => fill('* ', n),
  unders_only: (n) => fill('_', n),
  tilde_open: (n) => fill('~a ', n),
  tildes_only: (n) => fill('~', n),
  em_pairs: (n) => fill('*a* ', n),
  brackets_open: (n) => fill('[a ', n),
  brackets_only: (n) => fill('[', n),
  close_brackets: (n) => fill(']', n),
  link_open_paren: (n) => fill('[a](', n),
  links_ok: (n) => fill('[a](b) ', n),
  bang_brackets: (n) => fill('![', n),
  lt_only: (n) => fill('<', n),
  lt_a: (n) => fill('<a', n),
  lt_a_space: (n) => fill('<a ', n),
  html_comment_open: (n) => '<!--' + fill('a\n', n),
  html_block_div: (n) => '<div>\n' + fill('text\n', n),
  backticks_open: (n) => fill('`a ', n),
  backtick_runs: (n) => fill('`` ` ', n),
  backslashes: (n) => fill('\\', n),
  escapes: (n) => fill('\\*', n),
  entities: (n) => fill('&amp;', n),
  entities_bad: (n) => fill('&', n),
  autolinks: (n) => fill('http://a.b ', n),
  www: (n) => fill('www.', n),
  at_signs: (n) => fill('a@', n),
  url_long: (n) => 'http://' + fill('a', n),
  refdefs: (n) => fill('[a]: http://x\n', n),
  refdefs_unique: (n) => { let s = ''; for (let i = 0; s.length < n; i++) s += `[r${i}]: http://x/${i}\n`; return s; },
  ref_uses: (n) => '[a]: http://x\n\n' + fill('[a] ', n),
  list_flat: (n) => fill('- item\n', n),
  list_flat_loose: (n) => fill('- item\n\n', n),
  olist_flat: (n) => fill('1. item\n', n),
  list_lazy: (n) => '- item\n' + fill('lazy continuation\n', n),
  list_2deep: (n) => fill('- a\n  - b\n', n),
  list_empty_items: (n) => fill('-\n', n),
  task_list: (n) => fill('- [ ] x\n', n),
  bq_flat: (n) => fill('> quote\n', n),
  bq_lazy: (n) => '> quote\n' + fill('lazy\n', n),
  bq_only: (n) => fill('>\n', n),
  table_rows: (n) => '| a | b |\n|---|---|\n' + fill('| 1 | 2 |\n', n),
  table_wide: (n) => fill('|a', n / 3) + '|\n' + fill('|-', n / 3) + '|\n' + fill('|b', n / 3) + '|\n',
  pipes: (n) => fill('|', n),
  pipes_lines: (n) => fill('a|b\n', n),
  setext: (n) => fill('a\n=\n', n),
  setext_dash: (n) => fill('a\n-\n', n),
  hr: (n) => fill('***\n', n),
  hr_spaced: (n) => fill('* * *\n', n),
  hashes: (n) => fill('#', n),
  heading_long: (n) => '# ' + fill('a ', n),
  heading_hashes_trailing: (n) => '# a' + fill(' #', n),
  indented_code: (n) => fill('    code\n', n),
  tabs: (n) => fill('\t', n),
  tabs_lines: (n) => fill('\t- a\n', n),
  indented_spaces_lines: (n) => fill('   a\n', n),
  crlf: (n) => fill('a\r\n', n),
  cr_only: (n) => fill('a\r', n),
  nul: (n) => fill('\0', n),
  fffd: (n) => fill('\uFFFD', n),
  control: (n) => fill('\x01\x02', n),
  unicode: (n) => fill('héllo wörld ✓ 日本語 ', n),
  emoji: (n) => fill('😀', n),
  trailing_spaces_break: (n) => fill('a  \n', n),
  line_of_dashes: (n) => fill('-', n),
  line_of_equals: (n) => 'a\n' + fill('=', n),
  del_open: (n) => fill('~~a ', n),
  footnote_like: (n) => fill('[^a]', n),
  mixed_delims: (n) => fill('*_~`[<', n),
  mixed_delims_space: (n) => fill('* _ ~ ` [ < ', n),
  underscore_words: (n) => fill('snake_case_name ', n),
};
for (const [k, u] of Object.entries({ w_bang: 'a!', w_under: 'a_', w_tilde: 'a~', w_tick: 'a`', w_bslash: 'a\\', w_lbr: 'a[', w_rbr: 'a]', w_lt: 'a<', w_gt: 'a>', w_amp: 'a&', w_at: 'a@', w_colon: 'a:', w_http: 'http:', w_www: 'www.', w_dot: 'a.', w_star2: 'a**', w_lpar: 'a(', w_pipe: 'a|', w_dollar: 'a$', w_us2: 'a__', w_mixed: 'a*_', w_bangbr: '![a', w_space_star: 'a *', w_emailish: 'a.b@', w_2sp: 'a  \n'})) bulk[k] = (n) => fill(u, n);
const sparse = (unit, runsPerUnit, filler) => (n) => { const k = Number(process.env.RUNS ?? 1000); const units = Math.max(1, Math.round(k / runsPerUnit)); const gap = Math.max(0, Math.floor(n / units) - unit.length); return (unit + filler.repeat(Math.ceil(gap / filler.length)).slice(0, gap)).repeat(units); };
bulk.h_bang_word = sparse('a!', 1, 'a');
bulk.h_under_word = sparse('a_', 1, 'a');
bulk.h_mixed_word = sparse('a*_', 2, 'a');
bulk.h_alt_spaced = sparse('*a**b ', 2, 'lorem ');
bulk.h_alt_word = sparse('*a**b', 2, 'a');
bulk.h_starnospace_word = sparse('*a', 1, 'a');
const D = () => Number(process.env.DEPTH ?? 32);
bulk.d_bq_lines = (n) => fill('>'.repeat(D()) + ' x\n', n);
bulk.d_bq_para = (n) => '>'.repeat(D()) + ' ' + fill('text text\n', n);
bulk.d_bq_lazy = (n) => '>'.repeat(D()) + ' x\n' + fill('lazy\n', n);
bulk.d_bq_blank_sep = (n) => fill('>'.repeat(D()) + ' x\n\n', n);
bulk.d_list_lines = (n) => { const head = Array.from({ length: D() }, (_, i) => '  '.repeat(i) + '- x').join('\n') + '\n'; return head + fill('  '.repeat(D() - 1) + '- y\n', n - head.length); };
bulk.d_list_repeat = (n) => fill(Array.from({ length: D() }, (_, i) => '  '.repeat(i) + '- x').join('\n') + '\n', n);
bulk.d_list_sameline = (n) => fill('- '.repeat(D()) + 'x\n', n);
bulk.d_bqlist_sameline = (n) => fill('> - '.repeat(D()) + 'x\n', n);
bulk.d_em_nested = (n) => fill('*a '.repeat(D()) + 'x' + ' b*'.repeat(D()) + '\n', n);
bulk.d_em_nested_para = (n) => fill('*a '.repeat(D()) + 'x' + ' b*'.repeat(D()) + '\n\n', n);
bulk.d_link_nested = (n) => fill('['.repeat(D()) + 'x' + '](u)'.repeat(D()) + '\n\n', n);
