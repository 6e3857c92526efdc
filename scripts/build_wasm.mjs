// Build step: compile src/engine/*.wat to WebAssembly next to the compiled JS in dist/src/engine,
// where src/engine/simd.ts loads it. wabt is a devDependency; nothing is downloaded.
import { readdirSync, readFileSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import initWabt from 'wabt';

const SRC = 'src/engine';
const OUT = 'dist/src/engine';
const wabt = await initWabt();
mkdirSync(OUT, { recursive: true });
for (const name of readdirSync(SRC).filter((f) => f.endsWith('.wat'))) {
  const module = wabt.parseWat(name, readFileSync(join(SRC, name), 'utf8'), { simd: true, multi_value: true, bulk_memory: true });
  try {
    module.validate();
    const { buffer } = module.toBinary({});
    const target = join(OUT, name.replace(/\.wat$/, '.wasm'));
    writeFileSync(`${target}.tmp`, buffer);
    renameSync(`${target}.tmp`, target);
  } finally {
    module.destroy();
  }
}
