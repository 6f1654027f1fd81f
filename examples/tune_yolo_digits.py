"""Ray Tune sweep of YOLO on scikit-learn's handwritten digits, reported through tune_bridge.

Run ``python examples/tune_yolo_digits.py --help`` for the options; the defaults run
6 trials of up to 8 epochs on a local Ray instance. ``tune-bridge demo`` runs the
same sweep. The code lives in ``tune_bridge.demo.sweep``; the heart of it is:

    from ray import tune
    from tune_bridge.adapters.ultralytics import make_tune_trainable
    from tune_bridge.demo.datasets import build_digits_dataset

    data = build_digits_dataset()
    trainable = make_tune_trainable(
        "yolov8n-cls.yaml", data, epochs=8, imgsz=32, optimizer="AdamW", fliplr=0.0
    )
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"lr0": tune.loguniform(1e-4, 3e-2), "momentum": tune.uniform(0.6, 0.98)},
        tune_config=tune.TuneConfig(metric="metrics/accuracy_top1", mode="max",
                                    scheduler=tune.schedulers.ASHAScheduler(max_t=8),
                                    num_samples=6),
    )
    tuner.fit()
"""

import sys

from tune_bridge.demo.sweep import main

if __name__ == "__main__":
    sys.exit(main())
