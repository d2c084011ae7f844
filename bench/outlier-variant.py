#!/usr/bin/env python3
"""Outlier variants of a timm-style ViT export (the zoo's vit-cifar10): function-preserving edits that give a few
channels k-times larger activations, as real ViTs have, so quantization meets them.

In every block, on `--channels` channels drawn with `--seed`:
  ln   LayerNorm gamma and beta x k on those channels, the rows of the MatMul that reads the LayerNorm / k
       (norm1 -> qkv, norm2 -> fc1): the LayerNorm outputs, quantized before qkv and fc1, carry the outliers.
  qk   query columns x k, the matching key columns / k (q.k is unchanged): Q carries the outliers.
  v    value columns x k, the matching rows of the output projection / k: V and the attention output carry them.
The float model computes the same logits (checked by `evolq eval` accuracy; float32 rounding aside).

  /usr/bin/python3 bench/outlier-variant.py ../shared/zoo/vit-cifar10 --out DIR [--k 32] [--channels 6]
      [--edits ln,qk,v] [--seed 0]
Needs python3-onnx and numpy (Debian packages).
"""
import argparse, json, os, shutil
import numpy as np
import onnx
from onnx import numpy_helper

p = argparse.ArgumentParser()
p.add_argument('model')
p.add_argument('--out', required=True)
p.add_argument('--k', type=float, default=32.0)
p.add_argument('--channels', type=int, default=6)
p.add_argument('--edits', default='ln,qk,v')
p.add_argument('--seed', type=int, default=0)
a = p.parse_args()
edits = set(a.edits.split(','))

m = onnx.load(os.path.join(a.model, 'model.onnx'))
g = m.graph
inits = {t.name: t for t in g.initializer}
arrays = {}
def arr(name):
    if name not in arrays: arrays[name] = numpy_helper.to_array(inits[name]).astype(np.float32).copy()
    return arrays[name]
consumers = {}
for n in g.node:
    for i in n.input: consumers.setdefault(i, []).append(n)
def const_input(node):
    return next(i for i in node.input if i in inits)
def only(nodes, op):
    found = [n for n in nodes if n.op_type == op]
    assert len(found) == 1, f'expected one {op}, found {[n.name for n in nodes]}'
    return found[0]
def bias_of(matmul):
    add = only(consumers[matmul.output[0]], 'Add')
    return const_input(add)

rng = np.random.default_rng(a.seed)
edited = []
for ln in [n for n in g.node if n.op_type == 'LayerNormalization']:
    readers = [n for n in consumers.get(ln.output[0], []) if n.op_type == 'MatMul']
    if not readers: continue  # the final norm: its reader is the head through a Gather
    mm = readers[0]
    w = arr(const_input(mm))  # [in, out]
    dim = w.shape[0]
    channels = rng.choice(dim, a.channels, replace=False)
    if 'ln' in edits:
        arr(ln.input[1])[channels] *= a.k
        arr(ln.input[2])[channels] *= a.k
        w[channels, :] /= a.k
        edited.append(f'{ln.name}: x{a.k:g} on {sorted(channels.tolist())}')
    if mm.name.endswith('qkv/MatMul') and w.shape[1] == 3 * dim:
        b = arr(bias_of(mm))
        proj = None
        # attention output projection: the MatMul after this block's attention whose weight is [dim, dim]
        prefix = mm.name.rsplit('/qkv/', 1)[0]
        proj = next(n for n in g.node if n.op_type == 'MatMul' and n.name == f'{prefix}/proj/MatMul')
        wp = arr(const_input(proj))
        if 'qk' in edits:
            w[:, channels] *= a.k; b[channels] *= a.k
            w[:, dim + channels] /= a.k; b[dim + channels] /= a.k
            edited.append(f'{prefix} q x{a.k:g} / k /{a.k:g} on {sorted(channels.tolist())}')
        if 'v' in edits:
            w[:, 2 * dim + channels] *= a.k; b[2 * dim + channels] *= a.k
            wp[channels, :] /= a.k
            edited.append(f'{prefix} v x{a.k:g}, proj rows /{a.k:g} on {sorted(channels.tolist())}')

for name, value in arrays.items():
    inits[name].CopyFrom(numpy_helper.from_array(value, name))
os.makedirs(a.out, exist_ok=True)
onnx.save(m, os.path.join(a.out, 'model.onnx'))
for f in ('preprocessor_config.json',):
    shutil.copy(os.path.join(a.model, f), os.path.join(a.out, f))
config = json.load(open(os.path.join(a.model, 'config.json')))
config['outlier_variant'] = {'source': a.model, 'k': a.k, 'channels': a.channels, 'edits': sorted(edits), 'seed': a.seed}
json.dump(config, open(os.path.join(a.out, 'config.json'), 'w'), indent=2)
print('\n'.join(edited))
