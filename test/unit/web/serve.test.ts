import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveDemo, type DemoServer } from '../../../src/web/serve.js';
import { DataError } from '../../../src/errors.js';
import { ASSETS, DEFAULT_MODEL, ROOT, tempDir } from '../../helpers.js';

const CAT = join(ASSETS, 'cifar10/test/cat/0000.jpg');
const DOG = join(ASSETS, 'cifar10/test/dog/0000.jpg');

interface Reply {
  status: number;
  type: string | undefined;
  body: Buffer;
}

/** A GET with a chosen Host header and a raw path (fetch() would set Host itself and normalize `..`). */
function get(server: DemoServer, path: string, host = new URL(server.url).host): Promise<Reply> {
  const { hostname, port } = new URL(server.url);
  return new Promise((done, fail) => {
    const req = request({ hostname, port, path, method: 'GET', headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        done({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', fail);
    req.end();
  });
}

/**
 * An images folder holding one real image, a symlink to it, and hostile entries: a symlink to
 * /etc/passwd, a symlink to an image outside the folder, a text file named .png, a dangling symlink.
 */
function hostileFolder(): { root: string; outside: string } {
  const root = tempDir('evolq-serve-');
  const outside = tempDir('evolq-serve-outside-');
  mkdirSync(join(root, 'cat'));
  copyFileSync(CAT, join(root, 'cat/0000.jpg'));
  symlinkSync('0000.jpg', join(root, 'cat/alias.jpg'));
  symlinkSync('/etc/passwd', join(root, 'cat/passwd.png'));
  copyFileSync(DOG, join(outside, 'dog.jpg'));
  symlinkSync(join(outside, 'dog.jpg'), join(root, 'cat/outside.jpg'));
  writeFileSync(join(root, 'cat/fake.png'), 'root:x:0:0:root:/root:/bin/bash\n');
  symlinkSync(join(outside, 'missing.png'), join(root, 'cat/dangling.png'));
  return { root, outside };
}

/** Every string in a JSON value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

test('serve leaves out symlinks that lead outside the images folder and files that are not images, and reports them', async () => {
  const { root, outside } = hostileFolder();
  const server = await serveDemo({ out: DEFAULT_MODEL, images: root, port: 0 });
  try {
    assert.deepEqual(
      server.images.map((i) => i.name),
      ['cat/0000.jpg', 'cat/alias.jpg'],
      'the image and a symlink to it inside the folder are served',
    );
    const reasons = new Map(server.skipped.map((s) => [s.file, s.reason]));
    assert.deepEqual(
      [...reasons.keys()].sort(),
      ['dangling.png', 'fake.png', 'outside.jpg', 'passwd.png'].map((f) => join(root, 'cat', f)),
    );
    assert.match(reasons.get(join(root, 'cat/passwd.png'))!, /outside the images folder/);
    assert.match(reasons.get(join(root, 'cat/outside.jpg'))!, /outside the images folder/);
    assert.match(reasons.get(join(root, 'cat/fake.png'))!, /not an image/);
    assert.match(reasons.get(join(root, 'cat/dangling.png'))!, /cannot be resolved/);

    const listing = JSON.parse((await get(server, '/listing.json')).body.toString('utf8'));
    assert.equal(listing.images.length, 2);
    const passwd = readFileSync('/etc/passwd');
    const dog = readFileSync(join(outside, 'dog.jpg'));
    for (let i = 0; i < 8; i++) {
      const reply = await get(server, `/images/${i}.png`);
      if (i < 2) {
        assert.equal(reply.status, 200);
        assert.equal(reply.type, 'image/jpeg');
        assert.deepEqual(reply.body, readFileSync(CAT));
      } else {
        assert.equal(reply.status, 404, `/images/${i}.png`);
      }
      assert.ok(
        !reply.body.equals(passwd) && !reply.body.equals(dog),
        `/images/${i}.png serves a file from outside the folder`,
      );
    }
  } finally {
    await server.close();
  }
});

test('serve refuses a folder where no image can be served, naming the folder', async () => {
  const root = tempDir('evolq-serve-');
  mkdirSync(join(root, 'cat'));
  symlinkSync('/etc/passwd', join(root, 'cat/passwd.png'));
  writeFileSync(join(root, 'cat/fake.jpg'), 'not an image');
  const started = serveDemo({ out: DEFAULT_MODEL, images: root, port: 0 });
  // A server that does start must not keep the test process alive.
  started.then(
    (server) => server.close(),
    () => undefined,
  );
  await assert.rejects(started, (err: Error) => {
    assert.ok(err instanceof DataError, `${err.name}: ${err.message}`);
    assert.ok(err.message.startsWith(`${root}: no image can be served`), err.message);
    return true;
  });
});

test('serve answers only requests addressed to its own host and port (no DNS rebinding)', async () => {
  const { root } = hostileFolder();
  const server = await serveDemo({ out: DEFAULT_MODEL, images: root, port: 0 });
  try {
    const { port } = new URL(server.url);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      const reply = await get(server, '/listing.json', host);
      assert.equal(reply.status, 200, `Host: ${host}`);
    }
    for (const host of [
      `evil.example:${port}`,
      'evil.example',
      `127.0.0.1:${Number(port) + 1}`,
      '127.0.0.1',
      `127.0.0.1.evil.example:${port}`,
    ]) {
      for (const path of ['/listing.json', '/', '/model.onnx', '/images/0.jpg']) {
        const reply = await get(server, path, host);
        assert.ok(reply.status === 421 || reply.status === 403, `Host: '${host}' ${path} gave ${reply.status}`);
        assert.equal(reply.type, 'text/plain');
        assert.ok(reply.body.length < 200 && !reply.body.includes(root), 'a short text body');
      }
    }
  } finally {
    await server.close();
  }
});

test('listing.json names the model and the images relative to the served folders, never by a local path', async () => {
  const { root } = hostileFolder();
  const server = await serveDemo({ out: DEFAULT_MODEL, images: root, port: 0 });
  try {
    const reply = await get(server, '/listing.json');
    assert.equal(reply.status, 200);
    const text = reply.body.toString('utf8');
    const listing = JSON.parse(text);
    assert.equal(listing.model, 'vit-cifar10');
    assert.deepEqual(
      listing.images.map((i: { file: string }) => i.file),
      ['cat/0000.jpg', 'cat/alias.jpg'],
    );
    for (const value of strings(listing)) {
      if (value.startsWith('/'))
        assert.match(value, /^\/images\/\d+\.(jpg|png|webp)$/, `an absolute path in listing.json: ${value}`);
    }
    for (const local of [root, ROOT, DEFAULT_MODEL]) assert.ok(!text.includes(local), `listing.json contains ${local}`);
  } finally {
    await server.close();
  }
});

test('serve gives 404 for paths it does not route, with no way out of its folders', async () => {
  const { root } = hostileFolder();
  const server = await serveDemo({ out: DEFAULT_MODEL, images: root, port: 0 });
  try {
    for (const path of [
      '/../package.json',
      '/..%2fpackage.json',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/ort/../../package.json',
      '/ort/..%2f..%2fpackage.json',
      '/images/999.png',
      '/images/-1.png',
      '/images/../../etc/passwd',
      '/web/index.html',
      '/dist/web/main.js',
      '/config.json',
      '/package.json',
    ]) {
      const reply = await get(server, path);
      assert.equal(reply.status, 404, `${path} gave ${reply.status}`);
    }
    assert.equal((await get(server, '/')).status, 200);
    assert.equal((await get(server, '/main.js')).status, 200);
  } finally {
    await server.close();
  }
});

/** The status line a raw request (anything, even no HTTP at all) gets back. */
function raw(server: DemoServer, text: string): Promise<string> {
  const { hostname, port } = new URL(server.url);
  return new Promise((done, fail) => {
    const socket = connect(Number(port), hostname, () => socket.end(text));
    let reply = '';
    socket.on('data', (chunk) => (reply += chunk.toString()));
    socket.on('end', () => done(reply.split('\r\n')[0]));
    socket.on('error', fail);
    socket.setTimeout(10_000, () => fail(new Error(`no answer to ${JSON.stringify(text)}`)));
  });
}

test('serve survives malformed requests, other methods and a served file removed while it runs', async () => {
  const out = join(tempDir(), 'out');
  cpSync(DEFAULT_MODEL, out, { recursive: true });
  const { root } = hostileFolder();
  execFileSync('mkfifo', [join(root, 'cat/fifo.jpg')]);
  const server = await serveDemo({ out, images: root, port: 0 });
  try {
    assert.match(server.skipped.find((s) => s.file.endsWith('fifo.jpg'))!.reason, /is a FIFO/, 'not waited on');
    const host = new URL(server.url).host;
    const replies: Record<string, RegExp> = {
      [`GET //[ HTTP/1.1\r\nHost: ${host}\r\n\r\n`]: /^HTTP\/1\.1 400/,
      'garbage\r\n\r\n': /^HTTP\/1\.1 400/,
      '\x00\x01\x02\r\n\r\n': /^HTTP\/1\.1 400/,
      [`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: ${host}\r\n\r\n`]: /^HTTP\/1\.1 (404|414|431|400)/,
      [`HEAD / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`]: /^HTTP\/1\.1 200/,
      [`OPTIONS / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`]: /^HTTP\/1\.1 405/,
      [`POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`]: /^HTTP\/1\.1 405/,
    };
    for (const [text, status] of Object.entries(replies)) {
      assert.match(await raw(server, text), status, JSON.stringify(text.slice(0, 40)));
      assert.equal((await get(server, '/')).status, 200, 'still serving');
    }
    assert.equal((await get(server, '/model.onnx')).status, 200);
    rmSync(join(out, 'model.onnx'));
    const gone = await get(server, '/model.onnx');
    assert.equal(gone.status, 404);
    assert.match(gone.body.toString(), /the file is gone/);
    assert.equal((await get(server, '/')).status, 200, 'still serving');
  } finally {
    await server.close();
  }
});
