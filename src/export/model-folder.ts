// The output folder as a model folder for transformers.js: the quantized model under the file name its dtype
// reads (onnx/model_quantized.onnx for q8, onnx/model_q4.onnx for q4), config.json saying what evolq did and
// which dtype to load by default, and preprocessor_config.json naming its image processor.

/** transformers.js dtype and file for the weight width: 3-bit weights are stored as uint4, as 4-bit ones. */
export function transformersJsFile(wBits: number): { dtype: 'q8' | 'q4'; file: string } {
  return wBits >= 8 ? { dtype: 'q8', file: 'onnx/model_quantized.onnx' } : { dtype: 'q4', file: 'onnx/model_q4.onnx' };
}

// The image processor transformers.js uses for each model_type, where the config does not name one.
const IMAGE_PROCESSORS: Record<string, string> = {
  vit: 'ViTImageProcessor',
  deit: 'DeiTImageProcessor',
  swin: 'ViTImageProcessor',
  beit: 'BeitImageProcessor',
  convnext: 'ConvNextImageProcessor',
  resnet: 'ConvNextImageProcessor',
  levit: 'LevitImageProcessor',
  dinov2: 'BitImageProcessor',
};

export interface QuantizationConfig {
  quant_method: 'evolq';
  w_bits: number;
  weight_storage: 'int8' | 'uint4';
  [setting: string]: unknown;
}

/** config.json of the output: the input's, plus `quantization_config` and transformers.js's default dtype. */
export function outputConfig(
  input: Record<string, unknown>,
  quantization: QuantizationConfig,
): Record<string, unknown> {
  const { dtype } = transformersJsFile(quantization.w_bits);
  const custom =
    typeof input['transformers.js_config'] === 'object' && input['transformers.js_config'] !== null
      ? (input['transformers.js_config'] as Record<string, unknown>)
      : {};
  return { ...input, quantization_config: quantization, 'transformers.js_config': { ...custom, dtype } };
}

/**
 * preprocessor_config.json of the output: the input's, with `image_processor_type` added from `model_type`
 * where it is missing (transformers.js needs it); undefined when neither names one.
 */
export function outputPreprocessorConfig(
  input: Record<string, unknown>,
  modelType: unknown,
): { config: Record<string, unknown>; added?: string } {
  if (input.image_processor_type || input.feature_extractor_type) return { config: input };
  const processor = typeof modelType === 'string' ? IMAGE_PROCESSORS[modelType] : undefined;
  return processor ? { config: { ...input, image_processor_type: processor }, added: processor } : { config: input };
}
