// `npm run bench -- dicom-memory [--sides 4096,16384] [--decoders current,legacy] [--json]`: peak
// memory of decoding one large synthetic 16-bit monochrome DICOM (a gradient with noise, no window,
// so the full-range stretch runs). Each decode runs in a fresh child process that reads the file,
// notes its RSS, resets the peak (Linux VmHWM), decodes, and reports the peak RSS during the decode
// — so the number is what decoding adds on top of holding the file (elsewhere: maxRSS since start). `legacy` is the decoder before the
// lookup-table rewrite (test/fixtures/dicom-legacy-decoder.ts: one Float64 per pixel).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeDicom } from '../src/client/dicom.ts';
import { dicomFile } from '../test/fixtures/dicom.ts';
import { legacyDecodeDicom } from '../test/fixtures/dicom-legacy-decoder.ts';

export const description = 'peak RSS of decoding a large synthetic 16-bit DICOM (bounded vs legacy decoder)';

interface ChildResult {
  readonly decoder: string;
  readonly side: number;
  readonly fileMB: number;
  readonly rssBeforeMB: number;
  readonly peakRssMB: number;
  readonly addedMB: number;
  readonly ms: number;
  /** Sum of the decoded bytes (to check both decoders agree, without printing pixels). */
  readonly checksum: number;
}

const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;

function _child(decoder: string, file: string, side: number): void {
  const buf = readFileSync(file);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const before = process.memoryUsage().rss;
  // Reset the peak (Linux: VmHWM) so a transient while reading the file is not counted.
  const hwm = _resetPeak();
  const t0 = performance.now();
  const img = decoder === 'legacy' ? legacyDecodeDicom(bytes, 'bench') : decodeDicom(bytes, 'bench');
  const ms = performance.now() - t0;
  const peak = hwm ? _peakRss() : process.resourceUsage().maxRSS * 1024;
  let checksum = 0;
  for (let i = 0; i < img.data.length; i++) checksum += img.data[i];
  const r: ChildResult = {
    decoder,
    side,
    fileMB: mb(bytes.length),
    rssBeforeMB: mb(before),
    peakRssMB: mb(peak),
    addedMB: mb(peak - before),
    ms: Math.round(ms),
    checksum,
  };
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

/** Resets the process's peak RSS (Linux /proc/self/clear_refs); false where that is not possible. */
function _resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return _peakRss() > 0;
  } catch {
    return false;
  }
}

/** Peak RSS since the last reset, in bytes (Linux VmHWM). */
function _peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

function _synthetic(side: number): Uint8Array {
  const px = new Uint16Array(side * side);
  let s = 12345;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      px[y * side + x] = (((x + y) * 4095) / (2 * side - 2) + (s >>> 28)) & 0xfff;
    }
  }
  return dicomFile({ rows: side, cols: side, bits: 16, pixelBytes: new Uint8Array(px.buffer) });
}

export async function run(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      sides: { type: 'string', default: '4096,8192,16384' },
      decoders: { type: 'string', default: 'current,legacy' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(
      'usage: npm run bench -- dicom-memory [--sides 4096,8192,16384] [--decoders current,legacy] [--json]',
    );
    return;
  }
  const sides = values.sides.split(',').map(Number);
  const decoders = values.decoders.split(',');
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-dicom-bench-'));
  const results: ChildResult[] = [];
  try {
    for (const side of sides) {
      const file = join(dir, `${side}.dcm`);
      writeFileSync(file, _synthetic(side));
      for (const d of decoders) {
        const out = execFileSync(
          process.execPath,
          [new URL(import.meta.url).pathname, '--child', d, file, String(side)],
          { encoding: 'utf8', maxBuffer: 1 << 20 },
        );
        const r = JSON.parse(out) as ChildResult;
        results.push(r);
        if (!values.json)
          console.log(
            `${side}×${side} 16-bit (${r.fileMB} MB file) ${d.padEnd(7)}: RSS before decode ${r.rssBeforeMB} MB, peak ${r.peakRssMB} MB (+${r.addedMB} MB), ${r.ms} ms`,
          );
      }
      const sums = new Set(results.filter((r) => r.side === side).map((r) => r.checksum));
      if (!values.json && decoders.length > 1)
        console.log(`  decoders agree on the pixel sum: ${sums.size === 1 ? 'yes' : 'NO'}`);
      rmSync(file);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (values.json) console.log(JSON.stringify(results));
}

if (import.meta.main && process.argv[2] === '--child') {
  _child(process.argv[3], process.argv[4], Number(process.argv[5]));
}
