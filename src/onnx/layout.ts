// The ops that move values without changing them, in one place. Walks differ in what they may step over; each
// set below names the walk it is for, and each is the layout set less what that walk has never crossed (adding
// an op to a walk changes which tensors it reaches, and so the points, units or zero points written).

/** Ops that only change a tensor's shape or axis order. Residual branches are followed through these to their Add. */
export const RESHAPE_OPS: ReadonlySet<string> = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose']);

/** Ops that move or reshape values without changing them: a quantized tensor stays quantized through them. */
export const LAYOUT_OPS: ReadonlySet<string> = new Set([...RESHAPE_OPS, 'Identity', 'Dropout']);

/** LAYOUT_OPS and the ops that select or pad elements: a per-tensor quantizer's grid survives them. */
export const SELECT_OPS: ReadonlySet<string> = new Set([...LAYOUT_OPS, 'Gather', 'Slice', 'Split', 'Pad']);
