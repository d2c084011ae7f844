// `evolq serve OUT`: a localhost server for the browser demo. It serves the page (web/index.html and the
// tsc-built dist/web/main.js), onnxruntime-web's wasm build from node_modules, OUT/model.onnx, and a
// listing of images to classify with their true labels.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { loadModel } from '../model.js';
import { listImageFolder, limitPerClass } from '../data/imagefolder.js';
import { ConfigError, ModelError } from '../errors.js';

/** The package root: dist/src/web/serve.js is three levels down. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEMO_IMAGES = join(PACKAGE_ROOT, 'assets/cifar10/test');

export interface DemoOptions {
  /** An evolq output folder (or any model folder) holding model.onnx and preprocessor_config.json. */
  out: string;
  /** ImageFolder of images to classify; default: the bundled CIFAR-10 test images. */
  images?: string;
  /** How many images in all, taken evenly across classes (default 20). */
  count?: number;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
}

export interface DemoServer {
  url: string;
  /** The images the page classifies, in its order. */
  images: { file: string; label: number }[];
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.onnx': 'application/octet-stream', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg', '.webp': 'image/webp',
};

function ortDistDir(): string {
  const entry = fileURLToPath(import.meta.resolve('onnxruntime-web'));
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'ort.wasm.min.mjs'))) return dir;
    if (existsSync(join(dir, 'dist/ort.wasm.min.mjs'))) return join(dir, 'dist');
  }
  throw new ConfigError('onnxruntime-web is installed without its wasm build (dist/ort.wasm.min.mjs); run npm ci');
}

export async function serveDemo(options: DemoOptions): Promise<DemoServer> {
  const model = loadModel(options.out);
  if (model.preprocessing.channels !== 3) throw new ModelError(`${model.file}: the demo page feeds RGB images; this model takes ${model.preprocessing.channels} channel(s)`, model.file);
  const page = join(PACKAGE_ROOT, 'web/index.html');
  const script = join(PACKAGE_ROOT, 'dist/web/main.js');
  if (!existsSync(script)) throw new ConfigError(`${script}: the demo page is not built; run npm run build`);
  const ortDir = ortDistDir();
  const ortFiles = new Set(readdirSync(ortDir).filter((f) => f.startsWith('ort')));
  const folder = listImageFolder(options.images ?? DEMO_IMAGES, model.labels);
  const images = limitPerClass(folder, options.count ?? 20);
  const p = model.preprocessing;
  const listing = JSON.stringify({
    model: model.file,
    labels: model.labels ?? folder.classNames,
    inputName: model.inputName,
    preprocessor: { size: { height: p.height, width: p.width }, mean: p.mean, std: p.std, rescale: p.rescale },
    images: images.map((item, i) => ({ url: `/images/${i}${extname(item.file).toLowerCase()}`, file: item.file, label: item.label })),
  });

  const routes = (path: string): string | { body: string; type: string } | undefined => {
    if (path === '/' || path === '/index.html') return page;
    if (path === '/main.js') return script;
    if (path === '/model.onnx') return model.file;
    if (path === '/listing.json') return { body: listing, type: TYPES['.json'] };
    const ort = /^\/ort\/([\w.-]+)$/.exec(path);
    if (ort && ortFiles.has(ort[1])) return join(ortDir, ort[1]);
    const image = /^\/images\/(\d+)\.\w+$/.exec(path);
    if (image && Number(image[1]) < images.length) return images[Number(image[1])].file;
    return undefined;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const target = req.method === 'GET' ? routes(path) : undefined;
    // Cross-origin isolation lets onnxruntime-web use threads (SharedArrayBuffer).
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store' };
    if (!target) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`not found: ${path}\n`);
    } else if (typeof target === 'object') {
      res.writeHead(200, { ...headers, 'Content-Type': target.type }).end(target.body);
    } else {
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(target).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': statSync(target).size });
      createReadStream(target).pipe(res);
    }
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', (err) => fail(new ConfigError(`cannot listen on ${host}:${options.port ?? 0}: ${err.message}`)));
    server.listen(options.port ?? 0, host, () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/`,
    images: images.map((i) => ({ file: i.file, label: i.label })),
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
