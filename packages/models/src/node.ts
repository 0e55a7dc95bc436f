// Node entry of @titans/models (the package's "node" export condition): the same API as the
// browser entry; its build (tsdown.config.ts) keeps Node's real file system for checkpoint
// directories, where the browser build has functions that say they need Node.
export * from './index.ts';
