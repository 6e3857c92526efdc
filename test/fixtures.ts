/** Where the tests' vendored fixtures live (test/fixtures/, see each folder's README). No tests here. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** A folder under test/fixtures/, e.g. fixtureDir('timm'). */
export function fixtureDir(name: string): string {
  return join(REPO_ROOT, 'test', 'fixtures', name);
}
