// The model and images that come with evolq, by absolute path: examples and first runs work from any folder.
import { fileURLToPath } from 'node:url';

// This file runs as dist/src/bundled.js; the assets are at the package's root.
const assets = (path: string) => fileURLToPath(new URL(`../../assets/${path}`, import.meta.url));

export const BUNDLED = {
  /** A ViT trained on CIFAR-10 (32 px), as an HF-style folder: model.onnx, config.json, preprocessor_config.json. */
  model: assets('vit-cifar10'),
  /** 1,200 CIFAR-10 training images in class folders, for calibration. */
  calib: assets('cifar10/calib'),
  /** 2,000 CIFAR-10 test images in class folders, for evaluation. */
  test: assets('cifar10/test'),
} as const;
