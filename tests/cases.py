"""The one table of (method, options) cases that drives the kernel tests."""
CASES = [
    ("adam", {}),
    ("adam", {"weight_decay": 0.1}),
    ("adam", {"amsgrad": True}),
    ("adam", {"maximize": True, "lr": 3e-3, "betas": (0.8, 0.99)}),
    ("adam", {"weight_decay": 0.05, "decoupled_weight_decay": True,
              "amsgrad": True, "maximize": True}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.3, "amsgrad": True}),
    ("amsgrad", {"weight_decay": 0.02}),
    ("adamax", {}),
    ("adamax", {"weight_decay": 0.1, "maximize": True}),
    ("nadam", {}),
    ("nadam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("nadam", {"weight_decay": 0.1, "maximize": True, "momentum_decay": 0.01}),
    ("radam", {}),
    ("radam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("radam", {"weight_decay": 0.1, "betas": (0.9, 0.5)}),
    ("sgd", {}),
    ("sgd", {"momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "maximize": True}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True, "weight_decay": 0.01}),
    ("rmsprop", {"momentum": 0.9, "lr": 1e-3}),
    ("rmsprop", {"centered": True, "momentum": 0.5, "maximize": True, "lr": 1e-3}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1,
                 "weight_decay": 0.01, "maximize": True}),
    ("lion", {}),
    ("lion", {"weight_decay": 0.5, "maximize": True, "betas": (0.95, 0.98)}),
    ("adabelief", {}),
    ("adabelief", {"weight_decay": 0.1, "eps_root": 0.0, "maximize": True}),
    ("yogi", {}),
    ("yogi", {"weight_decay": 0.1, "eps_root": 1e-8, "initial_accumulator_value": 0.5}),
    ("adan", {}),
    ("adan", {"weight_decay": 0.1, "betas": (0.9, 0.8, 0.95), "maximize": True}),
]


def case_id(case):
    method, opts = case
    return method + "".join(f"-{k}={v}" for k, v in opts.items())
