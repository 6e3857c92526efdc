/**
 * Model input: a normalised (B, C, H, W) batch as a tensor at the ViT's image size (bilinear resize
 * when the dataset's images are smaller or larger, e.g. CIFAR 32 -> ViT-S/16 224).
 */
import * as tf from '@tensorflow/tfjs';

export function imagesToTensor(images: Float32Array, batch: number, channels: number, side: number, imgSize: number): tf.Tensor4D {
  const x = tf.tensor4d(images, [batch, channels, side, side]); // (B, C, S, S)
  if (side === imgSize) return x;
  return tf.tidy(() => {
    const nhwc = x.transpose([0, 2, 3, 1]) as tf.Tensor4D; // (B, S, S, C)
    const resized = tf.image.resizeBilinear(nhwc, [imgSize, imgSize], false, true);
    x.dispose();
    return resized.transpose([0, 3, 1, 2]) as tf.Tensor4D; // (B, C, imgSize, imgSize)
  });
}
