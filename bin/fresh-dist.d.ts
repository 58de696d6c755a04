/** Whether `root`'s dist/ is a build of its src/ as it is now (every src/**\/*.ts has a dist .js no older than it). */
export function distIsFresh(root: string): boolean;
