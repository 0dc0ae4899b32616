/** kohya naming and target rules, and SGD / AdamW against hand-computed steps. */
import { describe, expect, it } from 'vitest';
import { isTextEncoderTarget, isUNetTarget, kohyaKeys, kohyaModuleOf, kohyaName } from '../../src-main/engine/lora';
import { AdamW, Sgd } from '../../src-main/engine/training/optimizers';

describe('kohya naming', () => {
  it('module paths with dots as underscores, per part', () => {
    expect(kohyaName('unet', 'down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0')).toBe(
      'lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_out_0',
    );
    expect(kohyaName('te', 'text_model.encoder.layers.0.self_attn.q_proj')).toBe(
      'lora_te_text_model_encoder_layers_0_self_attn_q_proj',
    );
    expect(kohyaKeys('lora_unet_x')).toEqual({
      down: 'lora_unet_x.lora_down.weight',
      up: 'lora_unet_x.lora_up.weight',
      alpha: 'lora_unet_x.alpha',
    });
    expect(kohyaModuleOf('lora_unet_x.lora_up.weight')).toEqual({ name: 'lora_unet_x', tensor: 'up' });
    expect(kohyaModuleOf('lora_unet_x.alpha')).toEqual({ name: 'lora_unet_x', tensor: 'alpha' });
    expect(kohyaModuleOf('lora_unet_x.hada_w1_a')).toBeUndefined();
  });

  it('targets: Linear and 1×1 Conv inside transformer blocks; text encoder attention and MLP Linears', () => {
    expect(isUNetTarget({ path: 'mid_block.attentions.0.proj_in', kind: 'conv', kernel: 1 })).toBe(true);
    expect(isUNetTarget({ path: 'up_blocks.0.attentions.2.transformer_blocks.0.ff.net.2', kind: 'linear' })).toBe(true);
    expect(isUNetTarget({ path: 'down_blocks.0.resnets.0.conv1', kind: 'conv', kernel: 3 })).toBe(false);
    expect(isUNetTarget({ path: 'down_blocks.0.resnets.0.time_emb_proj', kind: 'linear' })).toBe(false);
    expect(isUNetTarget({ path: 'time_embedding.linear_1', kind: 'linear' })).toBe(false);
    expect(isUNetTarget({ path: 'down_blocks.1.resnets.0.conv_shortcut', kind: 'conv', kernel: 1 })).toBe(false);
    expect(isUNetTarget({ path: 'down_blocks.0.resnets.0.conv1', kind: 'conv', kernel: 3 }, true)).toBe(true);
    expect(isTextEncoderTarget({ path: 'text_model.encoder.layers.3.mlp.fc1', kind: 'linear' })).toBe(true);
    expect(isTextEncoderTarget({ path: 'text_model.encoder.layers.3.self_attn.out_proj', kind: 'linear' })).toBe(true);
    expect(isTextEncoderTarget({ path: 'text_projection', kind: 'linear' })).toBe(false);
  });
});

describe('optimizers', () => {
  it('SGD: p − lr·g', () => {
    const p = Float32Array.of(1, -2, 0.5);
    const opt = new Sgd(0.5);
    opt.step([p], [Float32Array.of(0.2, -0.4, 1)]);
    expect(Array.from(p)).toEqual([0.9, -1.8, 0].map(Math.fround));
    expect(opt.steps).toBe(1);
  });

  it('SGD with weight decay: p − lr·(g + wd·p), as torch.optim.SGD(weight_decay=wd) (by hand)', () => {
    // Values exact in float32, so the hand result is exact too.
    const p = Float32Array.of(1, -2, 0.5);
    const opt = new Sgd(0.5, 0.5);
    opt.step([p], [Float32Array.of(0.25, -0.5, 1)]);
    // 1 − 0.5·(0.25 + 0.5) = 0.625; −2 − 0.5·(−0.5 − 1) = −1.25; 0.5 − 0.5·(1 + 0.25) = −0.125
    expect(Array.from(p)).toEqual([0.625, -1.25, -0.125]);
    expect(opt.nextFactors()).toEqual({ lr: 0.5, wd: 0.5 });
  });

  it('AdamW: decoupled decay, bias-corrected moments (two steps by hand)', () => {
    const [lr, wd, b1, b2, eps] = [0.1, 0.01, 0.9, 0.999, 1e-8];
    const p = Float32Array.of(1, -1);
    const opt = new AdamW({ lr, weightDecay: wd });
    const grads = [
      [0.5, -2],
      [-0.25, 1],
    ];
    // Reference in float64, as torch's formula reads.
    const ref = [1, -1];
    const m = [0, 0];
    const v = [0, 0];
    grads.forEach((g, step) => {
      const t = step + 1;
      for (let i = 0; i < 2; i++) {
        ref[i] = ref[i]! * (1 - lr * wd);
        m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
        v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
        const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - b2 ** t) + eps;
        ref[i] = ref[i]! - (lr / (1 - b1 ** t)) * (m[i]! / denom);
      }
      opt.step([p], [Float32Array.from(g)]);
      // Step 1 by hand: m̂ = g, v̂ = g², so p = p·(1 − lr·wd) − lr·sign(g).
      if (t === 1) expect(Array.from(p)).toEqual([0.899, -0.899].map((x) => expect.closeTo(x, 6) as number));
      for (let i = 0; i < 2; i++) expect(p[i]).toBeCloseTo(ref[i]!, 6);
    });
    expect(opt.steps).toBe(2);
  });
});
