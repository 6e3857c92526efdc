#!/usr/bin/python3
"""Golden fixtures for timm ViT configs other than the one in test/fixtures/timm.

A plain-PyTorch re-implementation of timm's `VisionTransformer` eval forward (timm parameter names; conv
patch embedding with kernel = stride = patch, CLS token, learned pos_embed over 1 + T tokens, pre-LN blocks
with LayerNorm eps 1e-6, fused qkv Linear [3D, D] with optional bias, softmax(q k^T * Dh^-0.5) v, proj,
exact erf GELU MLP with hidden width int(D * mlp_ratio) as timm's Block, final LayerNorm, head on the CLS
token). It is first checked against the real timm fixture (weights + outputs written by timm itself);
then, for each variant below, random seeded weights (perturbed LayerNorm affines and biases) are written to

  test/fixtures/vit-variants/<name>.weights.safetensors   state dict, F32, __metadata__.config = timm kwargs
  test/fixtures/vit-variants/<name>.io.safetensors        input_nchw (3, C, S, S) in [0, 1), logits,
                                                           final_block_input_cls (the residual stream
                                                           entering the last block, CLS token)

Outputs are computed in float64 from the float32 weights and stored as F32.
Safetensors is written by hand (8-byte LE header length, JSON header, raw little-endian bytes); torch 1.13
has no safetensors module.

Usage: /usr/bin/python3 scripts/make_vit_fixtures.py [--timm-fixture DIR] [--out DIR] [--check-only]
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Each variant: timm VisionTransformer kwargs (only the ones that change the architecture) + a seed.
VARIANTS = {
    # grayscale, 7x7 patches (16 tokens + CLS), no qkv bias, 100 classes, mlp_ratio 2
    'gray28_p7_d48_noqkvbias': dict(
        seed=1, img_size=28, patch_size=7, in_chans=1, num_classes=100, embed_dim=48, depth=2, num_heads=6,
        mlp_ratio=2.0, qkv_bias=False),
    # RGB, 8x8 patches, a single block (final block input = patch + pos embedding), mlp_ratio 3
    'rgb32_p8_d48_depth1': dict(
        seed=2, img_size=32, patch_size=8, in_chans=3, num_classes=10, embed_dim=48, depth=1, num_heads=4,
        mlp_ratio=3.0, qkv_bias=True),
    # tiny patches: 64 tokens + CLS, head dim 8, 7 classes
    'img16_p2_d24_depth4': dict(
        seed=3, img_size=16, patch_size=2, in_chans=3, num_classes=7, embed_dim=24, depth=4, num_heads=3,
        mlp_ratio=4.0, qkv_bias=True),
    # deep and narrow: 6 blocks, 6 heads of dim 4, 49 tokens + CLS
    'gray28_p4_d24_depth6': dict(
        seed=4, img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=24, depth=6, num_heads=6,
        mlp_ratio=2.0, qkv_bias=True),
    # odd shapes: 2 input channels, 3x3 patches, head dim 10, and a fractional MLP width:
    # int(30 * 2.55) = 76 (timm truncates; rounding would give 77)
    'c2_img12_p3_d30_mlp2p55': dict(
        seed=5, img_size=12, patch_size=3, in_chans=2, num_classes=5, embed_dim=30, depth=2, num_heads=3,
        mlp_ratio=2.55, qkv_bias=True),
}
KWARG_KEYS = ['img_size', 'patch_size', 'in_chans', 'num_classes', 'embed_dim', 'depth', 'num_heads', 'mlp_ratio', 'qkv_bias']
MAX_FILE_BYTES = 200 * 1024
LN_EPS = 1e-6

# ---------------------------------------------------------------- safetensors (numpy <-> file)

_DT = {'F32': np.float32, 'F64': np.float64, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    meta = header.pop('__metadata__', {}) or {}
    base = 8 + n
    out = {}
    for name, e in header.items():
        if e['dtype'] == 'BF16':
            u16 = np.frombuffer(raw[base + e['data_offsets'][0]:base + e['data_offsets'][1]], dtype='<u2')
            arr = (u16.astype(np.uint32) << 16).view(np.float32)
        else:
            dt = np.dtype(_DT[e['dtype']]).newbyteorder('<')
            arr = np.frombuffer(raw[base + e['data_offsets'][0]:base + e['data_offsets'][1]], dtype=dt)
        out[name] = arr.reshape(e['shape']).copy()
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> float32 numpy array (written in name order)."""
    header = {}
    chunks = []
    off = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype='<f4')
        b = a.tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(',', ':')).encode('utf-8')
    hb += b' ' * ((8 - len(hb) % 8) % 8)  # pad the header so the data starts 8-byte aligned
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(hb)))
        f.write(hb)
        for c in chunks:
            f.write(c)


# ---------------------------------------------------------------- the reference forward


def _ln(x, sd, p):
    return F.layer_norm(x, (x.shape[-1],), sd[p + 'weight'], sd[p + 'bias'], eps=LN_EPS)


def _linear(x, sd, p):
    return F.linear(x, sd[p + 'weight'], sd.get(p + 'bias'))


def vit_forward(sd, cfg, images):
    """timm VisionTransformer.forward in eval mode. sd: name -> torch tensor; images (B, C, S, S).
    Returns (logits (B, K), final block input (B, N, D))."""
    P, D, H, depth = cfg['patch_size'], cfg['embed_dim'], cfg['num_heads'], cfg['depth']
    Dh = D // H
    B = images.shape[0]
    x = F.conv2d(images, sd['patch_embed.proj.weight'], sd['patch_embed.proj.bias'], stride=P)  # (B, D, g, g)
    x = x.flatten(2).transpose(1, 2)  # (B, T, D), row-major over the patch grid
    x = torch.cat([sd['cls_token'].expand(B, -1, -1), x], dim=1) + sd['pos_embed']
    final_in = None
    for i in range(depth):
        p = f'blocks.{i}.'
        if i == depth - 1:
            final_in = x
        h = _ln(x, sd, p + 'norm1.')
        N = h.shape[1]
        qkv = _linear(h, sd, p + 'attn.qkv.').reshape(B, N, 3, H, Dh).permute(2, 0, 3, 1, 4)  # (3, B, H, N, Dh)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * Dh ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        o = (attn @ v).transpose(1, 2).reshape(B, N, D)
        x = x + _linear(o, sd, p + 'attn.proj.')
        h = _ln(x, sd, p + 'norm2.')
        h = F.gelu(_linear(h, sd, p + 'mlp.fc1.'))  # exact (erf) GELU, timm's nn.GELU default
        x = x + _linear(h, sd, p + 'mlp.fc2.')
    x = _ln(x, sd, 'norm.')
    logits = _linear(x[:, 0], sd, 'head.')
    return logits, final_in


def to_torch(np_sd, dtype):
    return {k: torch.from_numpy(np.asarray(v)).to(dtype) for k, v in np_sd.items()}


# ---------------------------------------------------------------- validation against real timm


def check_timm_fixture(fixture_dir, tol=1e-5):
    wpath = os.path.join(fixture_dir, 'timm_vit_tiny_rgb.weights.safetensors')
    w, meta = read_safetensors(wpath)
    io, _ = read_safetensors(os.path.join(fixture_dir, 'timm_vit_tiny_rgb.io.safetensors'))
    cfg = json.loads(meta['config'])
    assert int(cfg.get('embed_dim', 768) * cfg.get('mlp_ratio', 4.0)) == w['blocks.0.mlp.fc1.weight'].shape[0]
    report = {}
    for name, dt in (('float32', torch.float32), ('float64', torch.float64)):
        logits, fin = vit_forward(to_torch(w, dt), cfg, torch.from_numpy(io['input_nchw']).to(dt))
        dl = float(np.abs(logits.numpy() - io['logits']).max())
        dc = float(np.abs(fin[:, 0].numpy() - io['final_block_input_cls']).max())
        report[name] = {'logits': dl, 'final_block_input_cls': dc}
        if 'final_block_input' in io:
            report[name]['final_block_input'] = float(np.abs(fin.numpy() - io['final_block_input']).max())
        if max(report[name].values()) >= tol:
            raise SystemExit(f'reference forward ({name}) disagrees with the timm fixture: {report[name]} (tol {tol})')
    return report


# ---------------------------------------------------------------- random variants


def random_state_dict(cfg, rng):
    D, C, P, K = cfg['embed_dim'], cfg['in_chans'], cfg['patch_size'], cfg['num_classes']
    Fh = int(D * cfg['mlp_ratio'])  # timm Block: hidden_features=int(dim * mlp_ratio)
    N = (cfg['img_size'] // P) ** 2 + 1

    def n(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ln(prefix, sd):
        sd[prefix + 'weight'] = (1.0 + n((D,), 0.25)).astype(np.float32)
        sd[prefix + 'bias'] = n((D,), 0.1)

    sd = {
        'patch_embed.proj.weight': n((D, C, P, P), 1.0 / math.sqrt(C * P * P)),
        'patch_embed.proj.bias': n((D,), 0.1),
        'cls_token': n((1, 1, D), 0.5),
        'pos_embed': n((1, N, D), 0.5),
    }
    for i in range(cfg['depth']):
        p = f'blocks.{i}.'
        ln(p + 'norm1.', sd)
        # qkv a bit larger than 1/sqrt(D) so that attention is far from uniform
        sd[p + 'attn.qkv.weight'] = n((3 * D, D), 2.0 / math.sqrt(D))
        if cfg['qkv_bias']:
            sd[p + 'attn.qkv.bias'] = n((3 * D,), 0.2)
        sd[p + 'attn.proj.weight'] = n((D, D), 1.0 / math.sqrt(D))
        sd[p + 'attn.proj.bias'] = n((D,), 0.1)
        ln(p + 'norm2.', sd)
        sd[p + 'mlp.fc1.weight'] = n((Fh, D), 1.0 / math.sqrt(D))
        sd[p + 'mlp.fc1.bias'] = n((Fh,), 0.2)
        sd[p + 'mlp.fc2.weight'] = n((D, Fh), 1.0 / math.sqrt(Fh))
        sd[p + 'mlp.fc2.bias'] = n((D,), 0.1)
    ln('norm.', sd)
    sd['head.weight'] = n((K, D), 1.0 / math.sqrt(D))
    sd['head.bias'] = n((K,), 0.1)
    return sd


def make_variant(name, spec, out_dir, num_images=3):
    cfg = {k: spec[k] for k in KWARG_KEYS}
    rng = np.random.default_rng(spec['seed'])
    sd = random_state_dict(cfg, rng)
    S, C = cfg['img_size'], cfg['in_chans']
    images = rng.random((num_images, C, S, S), dtype=np.float32)
    with torch.no_grad():
        logits, fin = vit_forward(to_torch(sd, torch.float64), cfg, torch.from_numpy(images).double())
        logits32, fin32 = vit_forward(to_torch(sd, torch.float32), cfg, torch.from_numpy(images))
    f32_err = max(float((logits32.double() - logits).abs().max()), float((fin32[:, 0].double() - fin[:, 0]).abs().max()))
    wpath = os.path.join(out_dir, f'{name}.weights.safetensors')
    iopath = os.path.join(out_dir, f'{name}.io.safetensors')
    write_safetensors(wpath, sd, {'config': json.dumps(cfg), 'format': 'pt'})
    write_safetensors(iopath, {
        'input_nchw': images,
        'logits': logits.numpy().astype(np.float32),
        'final_block_input_cls': fin[:, 0].numpy().astype(np.float32),
    })
    sizes = (os.path.getsize(wpath), os.path.getsize(iopath))
    if max(sizes) > MAX_FILE_BYTES:
        raise SystemExit(f'{name}: fixture too large ({sizes} bytes; limit {MAX_FILE_BYTES})')
    # round trip through our own reader
    w2, meta2 = read_safetensors(wpath)
    assert json.loads(meta2['config']) == cfg and all(np.array_equal(w2[k], sd[k]) for k in sd)
    return {
        'name': name, 'config': cfg, 'bytes': sizes,
        'logits_absmax': float(logits.abs().max()), 'logits_std': float(logits.std()),
        'cls_absmax': float(fin[:, 0].abs().max()), 'float32_vs_float64': f32_err,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--timm-fixture', default=os.path.join(ROOT, 'test', 'fixtures', 'timm'))
    ap.add_argument('--out', default=os.path.join(ROOT, 'test', 'fixtures', 'vit-variants'))
    ap.add_argument('--check-only', action='store_true', help='only validate the reference against the timm fixture')
    args = ap.parse_args()
    torch.manual_seed(0)
    with torch.no_grad():
        rep = check_timm_fixture(args.timm_fixture)
    print(json.dumps({'timm_fixture_max_abs_diff': rep}))
    if args.check_only:
        return
    os.makedirs(args.out, exist_ok=True)
    for name, spec in VARIANTS.items():
        print(json.dumps(make_variant(name, spec, args.out)))


if __name__ == '__main__':
    sys.exit(main())
