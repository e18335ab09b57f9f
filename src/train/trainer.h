/*
 * trainer.h - the trainer (trainer.c): the fit state that training keeps besides the network.
 *
 * The model (nn/model.h) is the network: layers, parameters, gradients, optimizer state
 * buffers, activations, data transforms. The trainer holds how far training has gone and how
 * it goes on: the optimizer step counter, the learning rate in effect, the NaN guard's flag,
 * the monitors' samples, the copies of the weights (backup within a step, early stopping's
 * best), and one fit call's schedules, watches and run log. It is created at the first fit
 * (or when a checkpoint is loaded), hangs off the model so that a later fit call and
 * clann_model_save_checkpoint continue from it, and is freed with the model.
 *
 * The learning rate has one owner: the trainer. t->lr starts at the compile-time rate
 * (clann_compile_params.optimizer.learning_rate); only the trainer changes it: the step,
 * exponential and plateau schedules (fit.c) and a checkpoint's restore (train/checkpoint.c).
 * Each update receives it through clann__trainer_opt(): the optimizer step, the embedding
 * tables' sparse step and L1's threshold. model->opt holds the optimizer's configuration only.
 */
#ifndef CLANN_TRAINER_H
#define CLANN_TRAINER_H

#include "nn/model.h"
#include "train/dist.h"
#include "train/dist_rows.h"
#include "train/monitor.h"

struct clann_runlog;
struct clann__exchange;

struct clann_trainer {
    /* Carried between fit calls and into checkpoints. */
    uint64_t step; /* optimizer steps taken: Adam's bias correction, every random stream's key */
    float lr;      /* the learning rate in effect */

    struct clann_view guard;        /* the NaN guard's flag for this step's update (guard.c) */
    struct clann_buf backup;        /* params copy within a step: weight noise, monitors */
    struct clann_buf best;          /* early stopping's best weights (on demand) */
    struct clann_buf *best_tables;  /* and of each embedding table (made at its first save) */
    size_t n_best_tables;
    struct clann_buf monitor_buf;   /* monitor samples of one epoch: 4 floats per layer each */
    size_t monitor_cap, monitor_used; /* samples */
    uint64_t *monitor_steps;        /* host: the step and batch rows of each sample */
    size_t *monitor_rows;

    /* One fit call's, set when it starts (fit.c). */
    struct clann_fit_params p;
    size_t batch;
    uint64_t first_step, max_step; /* max_step 0: no limit */
    struct clann_watch stop, plateau, best_save; /* best_save: a checkpoint_monitor's */
    bool has_validation;
    double penalty; /* weight penalty at the end of the last epoch, part of every reported loss */
    bool in_epoch;                  /* training steps under way: the running loss can be read */
    size_t epoch_rows;              /* rows trained on so far this epoch */
    struct clann_runlog *log;
    bool dist;                      /* data parallel across the ranks (train/dist.h) */
    struct clann__reducer reduce;   /* its gradient exchange buffer (for one fit call) */
    struct clann__dist_rows rows;   /* its embedding rows and sampled labels (dist_rows.h) */
    struct clann__exchange *exchange; /* or its overlapped exchange (train/exchange.h) */
};

/* The model's trainer, created on first use (step 0, the compile-time learning rate). */
enum clann_status clann__trainer_get(struct clann_model *m, struct clann_trainer **out);
/* The optimizer of this step's update: the model's configuration with the trainer's learning
 * rate, step and guard flag. */
struct clann_opt clann__trainer_opt(const struct clann_model *m, const struct clann_trainer *t);

#endif /* CLANN_TRAINER_H */
