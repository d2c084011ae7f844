// `evolq serve OUT`: a localhost server for the browser demo. It serves the page (web/index.html and the
// tsc-built dist/web/main.js), onnxruntime-web's wasm build from node_modules, OUT/model.onnx, and a
// listing of images to classify with their true labels. Only requests addressed to the bound host and
// port are answered, and the listing names files relative to the folders it serves.
import { NotRegularFileError, readRegularFile } from '../regular-file.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream, existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isIP, type AddressInfo } from 'node:net';
import sharp from 'sharp';
import { loadModel, type LoadedModel } from '../model.js';
import { listImageFolder, type ImageItem, type SkippedImage } from '../data/imagefolder.js';
import { ConfigError, DataError, ModelError } from '../errors.js';

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

/** An image the page classifies: `file` is its local path, `name` the path relative to the images folder that the page shows. */
export interface DemoImage {
  file: string;
  name: string;
  label: number;
}

export interface DemoServer {
  url: string;
  /** The images the page classifies, in its order. */
  images: DemoImage[];
  /** Images of the folder that were examined and refused (symlinks leading outside it, non-files, non-images). */
  skipped: SkippedImage[];
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
};

/** The image formats the page can decode, as sharp names them, with their URL extension and content type. */
const IMAGE_FORMATS: Record<string, { ext: string; type: string }> = {
  jpeg: { ext: '.jpg', type: 'image/jpeg' },
  png: { ext: '.png', type: 'image/png' },
  webp: { ext: '.webp', type: 'image/webp' },
};

function ortDistDir(): string {
  const entry = fileURLToPath(import.meta.resolve('onnxruntime-web'));
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'ort.wasm.min.mjs'))) return dir;
    if (existsSync(join(dir, 'dist/ort.wasm.min.mjs'))) return join(dir, 'dist');
  }
  throw new ConfigError('onnxruntime-web is installed without its wasm build (dist/ort.wasm.min.mjs); run npm ci');
}

interface ServableImage extends DemoImage {
  bytes: Buffer;
  type: string;
  ext: string;
}

/**
 * Reads one listed image if it may be served: its real path lies inside the images folder's real path,
 * it is a regular file, and sharp reads it as JPEG, PNG or WebP. The bytes are kept, so what was checked
 * is what gets served even if the file is swapped afterwards. Returns the reason otherwise.
 */
async function readServable(item: ImageItem, realRoot: string, name: string): Promise<ServableImage | string> {
  let real: string;
  try {
    real = realpathSync(item.file);
  } catch (err) {
    return `cannot be resolved (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  if (!real.startsWith(realRoot + sep)) return `resolves to ${real}, outside the images folder ${realRoot}`;
  let bytes: Buffer;
  try {
    // noFollow: a symlink put in place of the checked path after realpath is refused, not followed.
    bytes = readRegularFile(real, { noFollow: true });
  } catch (err) {
    if (err instanceof NotRegularFileError) return `${err.message}, not an image file`;
    return `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  let format: string | undefined;
  try {
    format = (await sharp(bytes).metadata()).format;
  } catch (err) {
    return `not an image (${(err as Error).message})`;
  }
  const known = format === undefined ? undefined : IMAGE_FORMATS[format];
  if (!known) return `a ${format ?? 'unknown'} image; expected ${Object.keys(IMAGE_FORMATS).join(', ')}`;
  return { file: item.file, name, label: item.label, bytes, ...known };
}

/**
 * The first ⌈count / classes⌉ servable images of each class, in sorted file order (limitPerClass's
 * choice, skipping refused images); every image examined and refused is reported.
 */
async function pickServable(
  root: string,
  items: readonly ImageItem[],
  count: number,
): Promise<{ images: ServableImage[]; skipped: SkippedImage[] }> {
  const realRoot = realpathSync(root);
  const perClass = Math.ceil(count / new Set(items.map((i) => i.label)).size);
  const taken = new Map<number, number>();
  const images: ServableImage[] = [];
  const skipped: SkippedImage[] = [];
  for (const item of items) {
    if ((taken.get(item.label) ?? 0) >= perClass) continue;
    const name = relative(root, item.file).split(sep).join('/');
    const result = await readServable(item, realRoot, name);
    if (typeof result === 'string') {
      skipped.push({ file: item.file, reason: result });
    } else {
      images.push(result);
      taken.set(item.label, (taken.get(item.label) ?? 0) + 1);
    }
  }
  return { images, skipped };
}

const isLoopback = (host: string) =>
  host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
const hostPort = (host: string, port: number) => `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;

/** The Host header values this server answers: the bound address, and every loopback name when bound to loopback (against DNS rebinding). */
function allowedHosts(host: string, port: number): Set<string> {
  const names = isLoopback(host) ? [host, '127.0.0.1', 'localhost', '::1'] : [host];
  const allowed = new Set(names.map((name) => hostPort(name, port).toLowerCase()));
  // Browsers leave out the default port.
  if (port === 80) for (const value of [...allowed]) allowed.add(value.slice(0, value.lastIndexOf(':')));
  return allowed;
}

export async function serveDemo(options: DemoOptions): Promise<DemoServer> {
  const model = loadModel(options.out);
  if (model.task.task !== 'image-classification')
    throw new ModelError(
      `${model.file}: is an image encoder (${model.task.reason}); the demo page shows a classifier's top classes`,
      model.file,
    );
  if (model.preprocessing.channels !== 3)
    throw new ModelError(
      `${model.file}: the demo page feeds RGB images; this model takes ${model.preprocessing.channels} channel(s)`,
      model.file,
    );
  const page = join(PACKAGE_ROOT, 'web/index.html');
  const script = join(PACKAGE_ROOT, 'dist/web/main.js');
  if (!existsSync(script)) throw new ConfigError(`${script}: the demo page is not built; run npm run build`);
  const ortDir = ortDistDir();
  const ortFiles = new Set(readdirSync(ortDir).filter((f) => f.startsWith('ort')));
  const imagesRoot = resolve(options.images ?? DEMO_IMAGES);
  const folder = listImageFolder(imagesRoot, model.labels);
  const { images, skipped } = await pickServable(imagesRoot, folder.items, options.count ?? 20);
  if (images.length === 0) {
    const first = skipped[0] ? `; ${skipped[0].file}: ${skipped[0].reason}` : '';
    throw new DataError(`${imagesRoot}: no image can be served (${skipped.length} refused${first})`, imagesRoot);
  }
  const listing = demoListing(options.out, model, folder.classNames, images);

  const routes = (path: string): Route | undefined => {
    if (path === '/' || path === '/index.html') return page;
    if (path === '/main.js') return script;
    if (path === '/model.onnx') return model.file;
    if (path === '/listing.json') return { body: listing, type: TYPES['.json'] };
    const ort = /^\/ort\/([\w.-]+)$/.exec(path);
    if (ort && ortFiles.has(ort[1])) return join(ortDir, ort[1]);
    const image = /^\/images\/(\d+)\.\w+$/.exec(path);
    if (image && Number(image[1]) < images.length)
      return { body: images[Number(image[1])].bytes, type: images[Number(image[1])].type };
    return undefined;
  };

  let allowed = new Set<string>();
  const server = createServer((req, res) => {
    try {
      answer(req, res, allowed, routes);
    } catch {
      // Whatever one request does wrong, the server answers it and goes on.
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('internal error\n');
    }
  });
  server.on('clientError', (_err, socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  const host = options.host ?? '127.0.0.1';
  await listen(server, host, options.port ?? 0);
  const { port } = server.address() as AddressInfo;
  allowed = allowedHosts(host, port);
  return {
    url: `http://${hostPort(host, port)}/`,
    images: images.map(({ file, name, label }) => ({ file, name, label })),
    skipped,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** listing.json: the model's name, labels, input and preprocessing, and the images with their URLs and true labels. */
function demoListing(
  out: string,
  model: LoadedModel,
  classNames: readonly string[],
  images: readonly ServableImage[],
): string {
  const p = model.preprocessing;
  return JSON.stringify({
    // Names relative to the served folders: the page never learns where they lie on this machine.
    model: basename(resolve(out)),
    labels: model.labels ?? classNames,
    inputName: model.inputName,
    preprocessor: { size: { height: p.height, width: p.width }, mean: p.mean, std: p.std, rescale: p.rescale },
    images: images.map((image, i) => ({ url: `/images/${i}${image.ext}`, file: image.name, label: image.label })),
  });
}

/** A file to stream, or bytes held in memory with their content type. */
type Route = string | { body: string | Buffer; type: string };

/** Answers one request: refused unless addressed to an allowed host, then a route's file or bytes, or 404. */
function answer(
  req: IncomingMessage,
  res: ServerResponse,
  allowed: ReadonlySet<string>,
  routes: (path: string) => Route | undefined,
): void {
  // Cross-origin isolation lets onnxruntime-web use threads (SharedArrayBuffer).
  const headers = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cache-Control': 'no-store',
  };
  const text = (status: number, body: string, extra: Record<string, string> = {}) =>
    res
      .writeHead(status, { ...headers, 'Content-Type': 'text/plain', ...extra })
      .end(req.method === 'HEAD' ? '' : body);
  if (!allowed.has((req.headers.host ?? '').toLowerCase()))
    return void text(421, `misdirected request: this server answers only to ${[...allowed][0]}\n`);
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return void text(405, `method not allowed: ${req.method}\n`, { Allow: 'GET, HEAD' });
  let path: string;
  try {
    path = new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return void text(400, 'bad request: not a URL path\n');
  }
  const target = routes(path);
  if (!target) return void text(404, `not found: ${path}\n`);
  if (typeof target === 'object') {
    res.writeHead(200, { ...headers, 'Content-Type': target.type }).end(req.method === 'HEAD' ? '' : target.body);
    return;
  }
  let bytes: number;
  try {
    bytes = statSync(target).size;
  } catch {
    return void text(404, `not found: ${path} (the file is gone)\n`);
  }
  const type = TYPES[extname(target).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': bytes });
  if (req.method === 'HEAD') return void res.end();
  // A file removed or unreadable after the headers went out ends the response; the server goes on.
  createReadStream(target)
    .on('error', () => res.destroy())
    .pipe(res);
}

/** Binds the server; a port in use or a host not on this machine is a ConfigError naming them. */
function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((ok, fail) => {
    server.once('error', (err) => fail(new ConfigError(`cannot listen on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => ok());
  });
}
