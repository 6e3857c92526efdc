#!/usr/bin/python3
"""Check that a headsteer checkpoint exported with `headsteer export-timm` loads into a timm-style PyTorch
VisionTransformer and gives headsteer's logits and head masks.

The model below is a minimal timm `VisionTransformer` (timm's module names: patch_embed.proj, cls_token,
pos_embed, blocks.<i>.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head; LayerNorm eps 1e-6,
exact GELU, CLS pooling) with the AdaViT decision networks under `gates.<l>.{norm, fc}`: gate l reads the
CLS token of block l's input, and head h of block l runs when its logit is > 0 (headsteer's evaluation
mask, docs/design.md "Model"). The export is loaded with strict=True, so every name and shape must match;
timm itself loads the same file with `strict=False` (or after dropping the `gates.` keys) as a dense ViT.

Steps: seeded random images of the checkpoint's shape -> `headsteer export-timm` and `headsteer infer`
(node, from this repository's dist/) -> the PyTorch forward on the exported weights -> max abs logit
difference and mask agreement, printed as one JSON line. Exits 1 when logits differ by more than --tol.

Usage: /usr/bin/python3 scripts/check_timm_export.py --checkpoint runs/default/pruned [--images 8] [--tol 1e-4]
Needs Debian's python3-torch; timm is not needed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from make_vit_fixtures import read_safetensors, write_safetensors  # noqa: E402


class Attention(nn.Module):
    def __init__(self, dim, heads, qkv_bias):
        super().__init__()
        self.heads, self.dh = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, self.dh).permute(2, 0, 3, 1, 4)  # each (B, H, N, Dh)
        o = ((q * self.dh ** -0.5) @ k.transpose(-2, -1)).softmax(-1) @ v  # (B, H, N, Dh)
        if mask is not None:
            o = o * mask[:, :, None, None]  # head h times m_h, before the projection
        return self.proj(o.transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, qkv_bias):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))  # timm truncates

    def forward(self, x, mask):
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class Gate(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm, self.fc = nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, heads)

    def forward(self, cls):
        return self.fc(self.norm(cls))  # (B, H) keep logits


class PatchEmbed(nn.Module):
    def __init__(self, chans, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(chans, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, T, D)


class VisionTransformer(nn.Module):
    """timm's VisionTransformer (class token, learned pos_embed incl. CLS) plus gates.<l> on `gated`."""

    def __init__(self, img_size, patch_size, in_chans, num_classes, embed_dim, depth, num_heads, mlp_ratio=4.0, qkv_bias=True, gated=()):
        super().__init__()
        n = (img_size // patch_size) ** 2 + 1
        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        self.gates = nn.ModuleDict({str(l): Gate(embed_dim, num_heads) for l in gated})

    def forward(self, images):
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        masks = []
        for l, block in enumerate(self.blocks):
            mask = (self.gates[str(l)](x[:, 0]) > 0).to(x.dtype) if str(l) in self.gates else None
            masks.append(mask if mask is not None else torch.ones(x.shape[0], block.attn.heads))
            x = block(x, mask)
        return self.head(self.norm(x)[:, 0]), torch.stack(masks, 1)  # logits (B, K), masks (B, L, H)


def node(*args):
    subprocess.run([os.environ.get('NODE', 'node'), os.path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--checkpoint', required=True, help='headsteer checkpoint folder (dense or gated)')
    ap.add_argument('--images', type=int, default=8)
    ap.add_argument('--tol', type=float, default=1e-4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = os.path.join(tmp, 'vit.safetensors')
        node('export-timm', '--checkpoint', args.checkpoint, '--out', export)
        sd, meta = read_safetensors(export)
        cfg = json.loads(meta['config'])
        gated = json.loads(meta['headsteer'])['gatedLayers']
        model = VisionTransformer(**cfg, gated=gated).eval()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
        S, C = cfg['img_size'], cfg['in_chans']
        images = np.random.default_rng(0).standard_normal((args.images, C, S, S)).astype(np.float32)
        write_safetensors(os.path.join(tmp, 'in.safetensors'), {'input_nchw': images})
        node('infer', '--checkpoint', args.checkpoint, '--input', os.path.join(tmp, 'in.safetensors'), '--out', os.path.join(tmp, 'out.safetensors'))
        ours, _ = read_safetensors(os.path.join(tmp, 'out.safetensors'))
        with torch.no_grad():
            logits, masks = model(torch.from_numpy(images))
    diff = float(np.abs(logits.numpy() - ours['logits']).max())
    report = {'checkpoint': args.checkpoint, 'torch': torch.__version__, 'images': args.images, 'tensors': len(sd),
              'gatedLayers': gated, 'logitsMaxAbsDiff': diff}
    if 'masks' in ours:
        report['maskAgreement'] = float((masks.numpy() == ours['masks']).mean())
        report['headUsage'] = float(ours['masks'].mean())
    print(json.dumps(report))
    return 0 if diff <= args.tol and report.get('maskAgreement', 1) == 1 else 1


if __name__ == '__main__':
    sys.exit(main())
