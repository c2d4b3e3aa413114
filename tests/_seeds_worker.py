"""Subprocess for test_seeds: a seed study that the test kills after training and resumes.

Usage: python _seeds_worker.py RUN_DIR LOG SLEEP_SECONDS

Appends "train" to LOG when the training part runs and "pairs" when the pair part runs;
the pair part first sleeps SLEEP_SECONDS so the test can kill the run after training.
"""

import sys
import time

import jax

from landscape.studies import seeds

CONFIG = seeds.Config(num_seeds=3, num_steps=20, eval_every=10, optimizer="adam", batch_size=32,
                      learning_rate=0.03, num_interp_pairs=2, num_interp_points=5,
                      measure_curvature=False)


def main(run_dir, log, sleep):
    jax.config.update("jax_enable_x64", True)
    import _problems

    train, compare = seeds._train, seeds.compare_pairs

    def logged_train(*args, **kwargs):
        with open(log, "a") as f:
            f.write("train\n")
        return train(*args, **kwargs)

    def slow_compare(*args, **kwargs):
        time.sleep(sleep)
        with open(log, "a") as f:
            f.write("pairs\n")
        return compare(*args, **kwargs)

    seeds._train, seeds.compare_pairs = logged_train, slow_compare
    result = seeds.run(_problems.tiny_mlp(), CONFIG, run_dir, progress=False)
    print(seeds.format_summary(result.summary))


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
