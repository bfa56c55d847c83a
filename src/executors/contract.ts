/**
 * The executor contract lives with the engine that calls executors (dependencies point from
 * executors to the engine, DESIGN.md §4); executors import it from here.
 */
export * from '../engine/executor-contract.ts';
