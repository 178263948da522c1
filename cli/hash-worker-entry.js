// A worker thread of `onboard hash`: the CLI runs TypeScript through tsx, registered per thread.
import { register } from 'tsx/esm/api';

register();
await import('./hash-worker.ts');
