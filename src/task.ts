// What the model's scored output is: class logits (image classification) or an embedding (image feature extraction,
// an image encoder such as CLIP's, SigLIP's or DINOv2's vision tower). The task decides the search's default loss and
// selection, what evaluation measures (top-1, or cosine to float and k-NN top-1) and the transformers.js config.
import { valueInfoShape, type ValueInfoProto } from './onnx/proto.js';

export const TASKS = ['image-classification', 'image-feature-extraction'] as const;
export type Task = (typeof TASKS)[number];

/** Output names that say "embedding" (transformers.js's and Hugging Face's names for image encoders' outputs). */
export const EMBEDDING_OUTPUTS = [
  'image_embeds',
  'pooler_output',
  'last_hidden_state',
  'embeddings',
  'features',
  'image_features',
];

export interface DetectedTask {
  task: Task;
  /** Why, in words, for the log and report.json. */
  reason: string;
}

/**
 * The task: the one given (--task), else from the scored output and config.json. An output named like an embedding,
 * or of more than two axes, is an embedding; one named `logits`, or a config with id2label or a
 * *ForImageClassification architecture, is class logits; a config.json without id2label is an encoder's (Hugging
 * Face writes id2label for classifiers); a bare export with a [batch, N] output is taken for a classifier.
 */
export function detectTask(
  output: ValueInfoProto,
  config: Record<string, unknown> | undefined,
  given?: Task,
): DetectedTask {
  if (given) return { task: given, reason: '--task' };
  const name = output.name ?? '';
  const rank = valueInfoShape(output)?.length;
  const encoder = (reason: string): DetectedTask => ({ task: 'image-feature-extraction', reason });
  const classifier = (reason: string): DetectedTask => ({ task: 'image-classification', reason });
  if (EMBEDDING_OUTPUTS.includes(name)) return encoder(`the output is named '${name}'`);
  if (rank !== undefined && rank > 2) return encoder(`the output '${name}' has ${rank} axes, not [batch, classes]`);
  if (name === 'logits') return classifier("the output is named 'logits'");
  if (!config) return classifier(`a bare export whose output '${name}' is taken for class logits`);
  const architectures = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  if (config.id2label) return classifier("config.json's id2label names the classes");
  if (architectures.some((a) => a.endsWith('ForImageClassification')))
    return classifier(`config.json's architecture is ${architectures.join(', ')}`);
  return encoder('config.json has no id2label');
}

/** The other task's flag, for messages that say how to override the detection. */
export function otherTask(task: Task): string {
  return `--task ${task === 'image-classification' ? 'image-feature-extraction' : 'image-classification'}`;
}
