/**
 * Layer-wise learning-rate decay for fine-tuning (BEiT, MAE; docs/design.md "Fine-tuning a pretrained
 * ViT"): the closer a parameter sits to the input, the smaller its learning rate, so the pretrained
 * features move less than the new head. Layer ids as BEiT's `get_layer_id_for_vit`: the embeddings 0,
 * block i is i + 1, the final norm and head L + 1; the scale is decay^(L + 1 - id).
 */

/** Learning-rate scale of the parameter named `name` (timm names) in a ViT of `depth` blocks. */
export function layerDecayScale(name: string, depth: number, decay: number): number {
  const block = /^blocks\.(\d+)\./.exec(name);
  let id = depth + 1;
  if (block !== null) id = Number(block[1]) + 1;
  else if (name.startsWith('patch_embed.') || name === 'cls_token' || name === 'pos_embed') id = 0;
  return decay ** (depth + 1 - id);
}
