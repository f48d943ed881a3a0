/* Softmax and cross-entropy over K logits. */
#ifndef SHELF_NN_SOFTMAX_H
#define SHELF_NN_SOFTMAX_H

/* probs[K] = softmax(logits) (probs may alias logits); numerically stable. */
void softmax_forward(float *probs, const float *logits, int K);

/* out[K] = log softmax(logits), without the underflow of log(softmax); out may alias
 * logits. */
void log_softmax_forward(float *out, const float *logits, int K);

/* Cross-entropy of the true class y given probs; the gradient with respect to the logits,
 * probs - onehot(y), into dlogits (may alias probs). Returns the loss. */
float softmax_xent_backward(float *dlogits, const float *probs, int y, int K);

#endif
