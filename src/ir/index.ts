export * from './dtype.js';
export * from './tensor.js';
export * from './types.js';
export * from './node.js';
export * from './graph.js';
export * from './model.js';
export * from './clone.js';
export * from './builder.js';
