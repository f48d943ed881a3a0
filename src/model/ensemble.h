/* Ensembles: two or three text models over the same labels (a bag of n-grams, a GRU, a
 * Transformer, or bags of other settings), whose calibrated probabilities are averaged with
 * weights fitted on the validation split. Models that err differently fix part of each
 * other's mistakes; the price is the sum of the members' prediction time.
 *
 * An ensemble is a shelf_model without an encoder of its own: its text log-probabilities
 * are the log of the weighted mean of its members' probabilities (each member's temperature
 * and logit adjustment applied), so it predicts, evaluates, explains (by occlusion), calibrates
 * and serves through the one prediction path of every text model. */
#ifndef SHELF_MODEL_ENSEMBLE_H
#define SHELF_MODEL_ENSEMBLE_H

#include "core/buf.h"
#include "model/model.h"

/* An ensemble of members[0..n) (2 <= n <= MODEL_MAX_MEMBERS; text models with the same
 * labels in the same order), weighed by w (summing to 1), which takes ownership of the
 * members (on failure too: they are freed). Its read options, and its record of the
 * training texts, are the first member's. */
shelf_status ensemble_new(shelf_model **members, const float *w, int n, shelf_model **out,
                          shelf_error *err);

/* Whether two models give the same labels in the same order. */
int ensemble_labels_match(const shelf_model *a, const shelf_model *b);

/* A member's calibrated log-probabilities of texts[0..n) into out[n][K]: its text side, its
 * temperature and its logit adjustment. 0, or -1 out of memory. */
int ensemble_member_log_probs(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                              size_t n, float *out, unsigned char *known);

/* The ensemble's log-probabilities of texts[0..n) (n <= the scratch's window) into
 * out[n][K]: the log of the weighted mean of its members'. known from the first member.
 * 0, or -1 out of memory. */
int ensemble_log_probs(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                       size_t n, float *out, unsigned char *known);

/* The members' scratch, in s (the ensemble's, whose window is the largest of theirs).
 * 0, or -1 out of memory (what was made is freed by shelf_scratch_free). */
int ensemble_scratch_new(const shelf_model *m, shelf_scratch *s);

/* For shelf info: the weights and each member's encoder. */
void ensemble_describe(const shelf_model *m, buf *b);

#endif
