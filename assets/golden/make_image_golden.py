"""Makes assets/golden/images/*.png and assets/golden/clip_preprocess.safetensors: LLaVA-1.5
image preprocessing as the reference code does it — LLaVA's expand2square with the CLIP mean
colour, then transformers' CLIPImageProcessor (resize shortest edge, bicubic; centre crop;
rescale 1/255; CLIP mean/std; without torchvision transformers runs its PIL backend,
CLIPImageProcessorPil) — and the same without the padding.

Usage: python make_image_golden.py   (pip install transformers pillow numpy safetensors; made with
transformers 5.24.0, Pillow 13.0.0, numpy 2.4.6)
"""
import os

import numpy as np
from PIL import Image
from safetensors.numpy import save_file
from transformers import CLIPImageProcessor

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 32


def expand2square(img, background):
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    out = Image.new(img.mode, (side, side), background)
    out.paste(img, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return out


def make_images():
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:24, 0:40]
    gradient = np.stack([xx * 6, yy * 10, (xx + yy) * 4], -1).astype(np.uint8)
    noise = rng.integers(0, 256, size=(48, 20, 3), dtype=np.uint8)
    blocks = np.zeros((32, 32, 3), np.uint8)
    blocks[:16, :16] = (200, 30, 30)
    blocks[16:, 16:] = (20, 220, 90)
    return {"landscape_40x24": gradient, "portrait_20x48": noise, "square_32": blocks}


def main():
    proc = CLIPImageProcessor(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    background = tuple(int(x * 255) for x in proc.image_mean)
    os.makedirs(os.path.join(HERE, "images"), exist_ok=True)
    out = {}
    for name, array in make_images().items():
        path = os.path.join(HERE, "images", f"{name}.png")
        Image.fromarray(array).save(path)
        img = Image.open(path).convert("RGB")
        out[f"{name}.pad"] = proc(expand2square(img, background), return_tensors="np")["pixel_values"][0]
        out[f"{name}.nopad"] = proc(img, return_tensors="np")["pixel_values"][0]
    save_file({k: v.astype(np.float32) for k, v in out.items()},
              os.path.join(HERE, "clip_preprocess.safetensors"))
    print({k: v.shape for k, v in out.items()}, "background", background)


if __name__ == "__main__":
    main()
