/* One helper thread that runs one job at a time beside the caller: the CNN's trainer
 * prepares the next batch's input (augmented images) there while the current batch
 * computes. */
#ifndef SHELF_CORE_BACKGROUND_H
#define SHELF_CORE_BACKGROUND_H

typedef struct background background;

/* NULL when out of memory or no thread can be started (the caller then does the work
 * itself). */
background *background_new(void);
/* Runs fn(ctx) on the helper thread; a job still running is waited for first. */
void background_start(background *b, void (*fn)(void *ctx), void *ctx);
/* Returns once the last job started has ended (at once when none runs). */
void background_wait(background *b);
/* Waits for the job running, then ends the thread. NULL is allowed. */
void background_free(background *b);

#endif
