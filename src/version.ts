import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * meshgate's version, read once from the package.json above this file (the same from src/ under
 * tsx and from dist/src/), so the CLI's --version, the status annotation and the default install
 * image never disagree with the package.
 */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'meshgate' && pkg.version) return pkg.version;
    } catch {
      // no package.json here: keep walking up
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('meshgate: package.json not found above the installed files');
    dir = up;
  }
}

export const MESHGATE_VERSION = packageVersion();
