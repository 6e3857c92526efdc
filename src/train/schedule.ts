/** Learning-rate schedule: linear warmup to the peak, then cosine decay to `minLrRatio * peak`. */

export function lrAt(step: number, totalSteps: number, peak: number, warmupFraction: number, minLrRatio: number): number {
  const warmup = Math.max(1, Math.round(warmupFraction * totalSteps));
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, totalSteps - warmup));
  const min = peak * minLrRatio;
  return min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * progress));
}
