/* global document, window, localStorage, fetch, setTimeout -- this file runs in the browser (no build step, no bundler) */
// The sandbox console: a Slack channel look-alike over the Slack stand-in's state. It polls
// /console/api/state and renders messages (Block Kit and mrkdwn) with DOM nodes and textContent
// only: nothing from the bot, the executors or a person is ever parsed as HTML.
const POLL_MS = 700;
const BOT_USER = 'U0BOT00001';

const view = {
  state: undefined,
  stateText: '',
  user: localStorage.getItem('console.user') || '',
  channel: localStorage.getItem('console.channel') || '',
  modalViewId: undefined,
  openThreads: new Set(),
};

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- talking to the console server -------------------------------------------------------

async function post(path, body) {
  const response = await fetch(`/console/api/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.message || `HTTP ${response.status}`);
  return json.result;
}

function notify(text, isError) {
  const notice = $('notice');
  notice.textContent = text;
  notice.classList.toggle('error', Boolean(isError));
}

function deliveryNotice(what, result) {
  if (result && result.status >= 300) notify(`${what}: the bot answered HTTP ${result.status}`, true);
  else notify('');
}

async function poll() {
  try {
    const response = await fetch('/console/api/state', { cache: 'no-store' });
    const text = await response.text();
    if (text !== view.stateText) {
      view.stateText = text;
      view.state = JSON.parse(text);
      render();
    }
  } catch (error) {
    notify(`cannot reach the sandbox: ${error.message}`, true);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// ---- mrkdwn ------------------------------------------------------------------------------

function decodeEntities(text) {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function userName(id) {
  const user = view.state?.users.find((u) => u.id === id);
  return user ? user.name : id;
}

function channelName(id) {
  const channel = view.state?.channels.find((c) => c.id === id);
  return channel ? channel.name : id;
}

/** `<…>` of Slack's mrkdwn: links, user/channel mentions, special mentions. */
function renderAngle(inner) {
  const [target, label] = inner.split('|', 2);
  if (target.startsWith('@')) return el('span', 'mention', `@${label || userName(target.slice(1))}`);
  if (target.startsWith('#')) return el('span', 'mention', `#${label || channelName(target.slice(1))}`);
  if (target.startsWith('!subteam^')) return el('span', 'mention', label || `@${target.slice(9)}`);
  if (target.startsWith('!date^')) return el('time', '', decodeEntities(label || formatDate(target)));
  if (target.startsWith('!')) return el('span', 'mention', `@${label || target.slice(1)}`);
  const url = decodeEntities(target);
  if (/^(https?:|mailto:)/i.test(url)) {
    const a = el('a', '', decodeEntities(label || url));
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }
  return document.createTextNode(decodeEntities(label || target));
}

function formatDate(target) {
  const seconds = Number(target.split('^')[1]);
  return Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 19) : target;
}

const INLINE = [
  { re: /<([^<>\n]+)>/, render: (m) => renderAngle(m[1]) },
  { re: /`([^`\n]+)`/, render: (m) => el('code', '', decodeEntities(m[1])) },
  { re: /(?<![\w*])\*(?=\S)([^*\n]+?)\*(?![\w*])/, render: (m) => wrap('strong', m[1]) },
  { re: /(?<![\w_])_(?=\S)([^_\n]+?)_(?![\w_])/, render: (m) => wrap('em', m[1]) },
  { re: /(?<![\w~])~(?=\S)([^~\n]+?)~(?![\w~])/, render: (m) => wrap('del', m[1]) },
];

function wrap(tag, inner) {
  const node = el(tag);
  appendInline(node, inner);
  return node;
}

// The shortcodes the shipped runbooks use; Slack shows an emoji, the console too (unknown ones stay text).
const EMOJI = {
  white_check_mark: '✅', warning: '⚠️', x: '❌', rewind: '⏪', mag: '🔍', twisted_rightwards_arrows: '🔀', rotating_light: '🚨',
  chart_with_upwards_trend: '📈', card_file_box: '🗃️', arrows_counterclockwise: '🔄', hourglass_flowing_sand: '⏳', pager: '📟',
};

function plainText(text) {
  return document.createTextNode(decodeEntities(text).replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] ?? whole));
}

function appendInline(parent, text) {
  let rest = text;
  while (rest.length > 0) {
    let best;
    for (const rule of INLINE) {
      const m = rule.re.exec(rest);
      if (m && (best === undefined || m.index < best.m.index)) best = { m, rule };
    }
    if (!best) {
      parent.append(plainText(rest));
      return;
    }
    if (best.m.index > 0) parent.append(plainText(rest.slice(0, best.m.index)));
    parent.append(best.rule.render(best.m));
    rest = rest.slice(best.m.index + best.m[0].length);
  }
}

function mrkdwn(text, className = 'mrkdwn') {
  const node = el('div', className);
  const parts = String(text ?? '').split(/```/);
  parts.forEach((part, index) => {
    if (index % 2 === 1) {
      node.append(el('pre', '', decodeEntities(part.replace(/^\n/, ''))));
      return;
    }
    const lines = part.split('\n');
    lines.forEach((line, at) => {
      const quote = /^(&gt;|>) ?(.*)$/.exec(line);
      if (quote) {
        const block = el('div', 'quote');
        appendInline(block, quote[2]);
        node.append(block);
        return;
      }
      appendInline(node, at < lines.length - 1 ? `${line}\n` : line);
    });
  });
  return node;
}

function textObject(object, className) {
  if (!object) return el('div');
  if (object.type === 'plain_text') return el('div', className || 'mrkdwn', object.text);
  return mrkdwn(object.text, className || 'mrkdwn');
}

// ---- Block Kit ---------------------------------------------------------------------------

function renderBlocks(blocks, context) {
  const container = el('div', 'blocks');
  for (const block of blocks) container.append(renderBlock(block, context));
  return container;
}

function renderBlock(block, context) {
  switch (block.type) {
    case 'header': return el('div', 'block block-header', block.text?.text ?? '');
    case 'divider': return el('hr', 'block-divider');
    case 'section': {
      const body = el('div', 'block');
      if (block.text) body.append(textObject(block.text));
      if (Array.isArray(block.fields)) {
        const fields = el('div', 'fields');
        for (const field of block.fields) fields.append(textObject(field));
        body.append(fields);
      }
      if (block.accessory?.type === 'button') {
        const row = el('div', 'block section-with-accessory');
        row.append(body, renderButton(block.accessory, block.block_id, context));
        return row;
      }
      return body;
    }
    case 'context': {
      const node = el('div', 'block block-context');
      for (const element of block.elements ?? []) {
        if (element.type === 'image') node.append(el('span', '', `[${element.alt_text ?? 'image'}]`));
        else node.append(textObject(element, 'mrkdwn'));
      }
      return node;
    }
    case 'actions': {
      const node = el('div', 'actions');
      for (const element of block.elements ?? []) {
        if (element.type === 'button') node.append(renderButton(element, block.block_id, context));
        else node.append(el('span', 'unsupported', `[${element.type}]`));
      }
      return node;
    }
    case 'image': return el('div', 'unsupported', `[image: ${block.alt_text ?? ''}]`);
    case 'input': return el('div', 'unsupported', `[input: ${block.label?.text ?? ''}]`);
    default: return el('div', 'unsupported', `[unsupported block: ${block.type}]`);
  }
}

function renderButton(button, blockId, context) {
  const node = el('button', button.style === 'primary' ? 'primary' : button.style === 'danger' ? 'danger' : '', button.text?.text ?? button.action_id);
  node.type = 'button';
  node.dataset.actionId = button.action_id;
  if (button.url) {
    node.addEventListener('click', () => window.open(button.url, '_blank', 'noopener'));
    return node;
  }
  node.addEventListener('click', async () => {
    if (button.confirm && !(await confirmDialog(button.confirm))) return;
    node.disabled = true;
    try {
      const result = await post('action', {
        user: view.user, channel: context.channel, actionId: button.action_id,
        ...(button.value !== undefined ? { value: button.value } : {}),
        ...(blockId ? { blockId } : {}),
        ...(context.ts ? { messageTs: context.ts } : {}),
      });
      deliveryNotice(`${button.text?.text ?? 'button'}`, result);
    } catch (error) {
      notify(error.message, true);
    } finally {
      node.disabled = false;
    }
  });
  return node;
}

function confirmDialog(confirm) {
  const dialog = $('confirm');
  $('confirm-title').textContent = confirm.title?.text ?? 'Are you sure?';
  $('confirm-text').replaceChildren(textObject(confirm.text));
  $('confirm-ok').textContent = confirm.confirm?.text ?? 'Confirm';
  $('confirm-deny').textContent = confirm.deny?.text ?? 'Cancel';
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true }));
}

// ---- messages ----------------------------------------------------------------------------

function renderMessage(message, isEphemeral) {
  const node = el('div', isEphemeral ? 'message ephemeral' : 'message');
  node.dataset.ts = message.ts ?? '';
  const fromBot = isEphemeral || message.bot_id || message.user === BOT_USER;
  const author = fromBot ? 'Runbook Bot' : userName(message.user);
  node.append(el('div', 'avatar', author.slice(0, 1).toUpperCase()));
  const body = el('div', 'body');
  const meta = el('div', 'meta');
  meta.append(el('span', 'author', author));
  if (fromBot) meta.append(el('span', 'app-badge', 'APP'));
  if (message.edited) meta.append(el('span', 'edited', '(edited)'));
  body.append(meta);
  if (isEphemeral) body.append(el('div', 'only-you', 'Only visible to you'));
  const context = { channel: message.channel ?? view.channel, ts: isEphemeral ? undefined : message.ts };
  if (Array.isArray(message.blocks) && message.blocks.length > 0) body.append(renderBlocks(message.blocks, context));
  else body.append(mrkdwn(message.text));
  node.append(body);
  return node;
}

function renderMessages() {
  const pane = $('messages');
  const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
  const all = (view.state.messages[view.channel] ?? []).map((m) => ({ ...m, channel: view.channel }));
  const top = all.filter((m) => !m.thread_ts || m.thread_ts === m.ts);
  const replies = all.filter((m) => m.thread_ts && m.thread_ts !== m.ts);
  const mine = view.state.ephemeral.filter((e) => e.channel === view.channel && e.user === view.user);
  const items = [...top.map((m) => ({ order: m.order, node: () => renderThread(m, replies) })), ...mine.map((e) => ({ order: e.order, node: () => renderMessage(e, true) }))];
  items.sort((a, b) => a.order - b.order);
  pane.replaceChildren(...(items.length > 0 ? items.map((item) => item.node()) : [el('div', 'empty', `This is the very beginning of #${channelName(view.channel)}. Type /runbook help.`)]));
  if (atBottom) pane.scrollTop = pane.scrollHeight;
}

function renderThread(parent, replies) {
  const node = renderMessage(parent, false);
  const mine = replies.filter((r) => r.thread_ts === parent.ts);
  if (mine.length > 0) {
    // Collapsed like Slack's "N replies"; which threads are open survives the next render.
    const thread = el('details', 'thread');
    thread.open = view.openThreads.has(parent.ts);
    thread.addEventListener('toggle', () => (thread.open ? view.openThreads.add(parent.ts) : view.openThreads.delete(parent.ts)));
    thread.append(el('summary', 'thread-label', `${mine.length} ${mine.length === 1 ? 'reply' : 'replies'}`));
    for (const reply of mine) thread.append(renderMessage(reply, false));
    node.querySelector('.body').append(thread);
  }
  return node;
}

// ---- sidebar, calls, modal ---------------------------------------------------------------

function renderSidebar() {
  const picker = $('user-picker');
  if (!view.state.users.some((u) => u.id === view.user)) view.user = view.state.users[0]?.id ?? '';
  if (picker.options.length !== view.state.users.length) {
    picker.replaceChildren(...view.state.users.map((u) => {
      const option = el('option', '', `${u.realName} (@${u.name})`);
      option.value = u.id;
      return option;
    }));
  }
  picker.value = view.user;
  const groups = view.state.users.find((u) => u.id === view.user)?.groups ?? [];
  $('user-groups').textContent = groups.length > 0 ? `in ${groups.map((g) => `@${g}`).join(', ')}` : 'in no user group';

  if (!view.state.channels.some((c) => c.id === view.channel)) view.channel = view.state.channels.find((c) => c.name === 'ml-incidents')?.id ?? view.state.channels[0]?.id ?? '';
  $('channel-list').replaceChildren(...view.state.channels.map((c) => {
    const item = el('li', c.id === view.channel ? 'selected' : '');
    const button = el('button', '', `${c.isPrivate ? '🔒' : '#'} ${c.name}`);
    button.type = 'button';
    button.dataset.channel = c.id;
    const count = (view.state.messages[c.id] ?? []).length;
    if (count > 0) button.append(el('span', 'count', String(count)));
    button.addEventListener('click', () => selectChannel(c.id));
    item.append(button);
    return item;
  }));
  $('channel-title').textContent = `#${channelName(view.channel)}`;
  $('composer-input').placeholder = `Message #${channelName(view.channel)}: try /runbook rollback model-x`;
  $('incident-list').replaceChildren(...view.state.incidents.map((i) => el('li', '', `${i.id} · ${i.status} · ${i.title}`)));
}

function renderCalls() {
  const calls = [...view.state.calls].sort((a, b) => b.order - a.order);
  $('call-list').replaceChildren(...(calls.length > 0 ? calls.map((call) => {
    const item = el('li');
    item.dataset.system = call.system;
    const head = el('div');
    head.append(el('span', 'call-system', call.system), el('span', 'call-summary', call.summary));
    item.append(head);
    if (call.detail) item.append(el('div', 'call-detail', call.detail));
    return item;
  }) : [el('li', 'empty', 'No calls yet.')]));
}

function renderModal() {
  const dialog = $('modal');
  const open = view.state.views.find((v) => v.user === view.user);
  if (!open) {
    if (dialog.open && view.modalViewId) dialog.close();
    view.modalViewId = undefined;
    return;
  }
  if (open.id === view.modalViewId && dialog.open) return;
  view.modalViewId = open.id;
  const modal = open.view;
  $('modal-title').textContent = modal.title?.text ?? 'Runbook';
  $('modal-submit').textContent = modal.submit?.text ?? 'Submit';
  $('modal-cancel').textContent = modal.close?.text ?? 'Cancel';
  $('modal-error').textContent = '';
  $('modal-body').replaceChildren(...(modal.blocks ?? []).map((block) => (block.type === 'input' ? renderInput(block) : renderBlock(block, { channel: view.channel }))));
  if (!dialog.open) dialog.showModal();
}

function renderInput(block) {
  const wrapper = el('div', 'input-block');
  wrapper.dataset.blockId = block.block_id;
  const element = block.element ?? {};
  const label = el('label', '', `${block.label?.text ?? ''}${block.optional ? ' (optional)' : ''}`);
  let control;
  if (element.type === 'static_select') {
    control = el('select');
    control.append(el('option', '', element.placeholder?.text ?? 'Choose…'));
    control.firstChild.value = '';
    for (const option of element.options ?? []) {
      const node = el('option', '', option.text?.text ?? option.value);
      node.value = option.value;
      control.append(node);
    }
    if (element.initial_option) control.value = element.initial_option.value;
  } else {
    control = el(element.multiline ? 'textarea' : 'input');
    control.value = element.initial_value ?? '';
    if (element.placeholder) control.placeholder = element.placeholder.text;
  }
  control.dataset.actionId = element.action_id;
  control.dataset.type = element.type === 'static_select' ? 'static_select' : 'plain_text_input';
  label.append(control);
  wrapper.append(label, el('div', 'field-error'));
  if (block.hint) wrapper.append(textObject(block.hint, 'meta'));
  return wrapper;
}

async function submitModal(event) {
  event.preventDefault();
  const values = {};
  for (const wrapper of $('modal-body').querySelectorAll('.input-block')) {
    const control = wrapper.querySelector('[data-action-id]');
    const value = control.value === '' ? null : control.value;
    values[wrapper.dataset.blockId] = { [control.dataset.actionId]: { type: control.dataset.type, value } };
  }
  try {
    const result = await post('submit', { user: view.user, viewId: view.modalViewId, values });
    const ack = result?.ack;
    if (ack?.response_action === 'errors') {
      for (const wrapper of $('modal-body').querySelectorAll('.input-block')) wrapper.querySelector('.field-error').textContent = ack.errors?.[wrapper.dataset.blockId] ?? '';
      return;
    }
    if (result.status >= 300) {
      $('modal-error').textContent = `the bot answered HTTP ${result.status}`;
      return;
    }
    $('modal').close();
  } catch (error) {
    $('modal-error').textContent = error.message;
  }
}

async function cancelModal() {
  const viewId = view.modalViewId;
  $('modal').close();
  if (viewId) await post('close', { viewId }).catch((error) => notify(error.message, true));
}

// ---- wiring ------------------------------------------------------------------------------

function render() {
  if (!view.state) return;
  renderSidebar();
  renderMessages();
  renderCalls();
  renderModal();
}

function selectChannel(id) {
  view.channel = id;
  localStorage.setItem('console.channel', id);
  render();
}

async function sendComposer(event) {
  event.preventDefault();
  const input = $('composer-input');
  const text = input.value.trim();
  if (!text) return;
  try {
    const result = await post('command', { user: view.user, channel: view.channel, text });
    input.value = '';
    deliveryNotice(text.split(/\s+/)[0], result);
  } catch (error) {
    notify(error.message, true);
  }
}

async function triggerIncident() {
  const button = $('trigger-incident');
  button.disabled = true;
  try {
    const result = await post('pagerduty', {});
    notify(`PagerDuty incident ${result.incident.id} "${result.incident.title}" triggered; the bot answered the signed webhook with HTTP ${result.webhook.status}`, result.webhook.status >= 300);
  } catch (error) {
    notify(error.message, true);
  } finally {
    button.disabled = false;
  }
}

$('user-picker').addEventListener('change', (event) => {
  view.user = event.target.value;
  localStorage.setItem('console.user', view.user);
  render();
});
$('composer').addEventListener('submit', sendComposer);
$('trigger-incident').addEventListener('click', triggerIncident);
$('modal-form').addEventListener('submit', submitModal);
$('modal-cancel').addEventListener('click', cancelModal);
$('modal').addEventListener('cancel', (event) => {
  event.preventDefault();
  void cancelModal();
});
poll();
