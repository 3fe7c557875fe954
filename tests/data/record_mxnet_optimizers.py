"""Record ``mxnet_1_9_1_optimizers.json`` with MXNet 1.9.1 (run it with that environment's Python).

    python3 -m venv /work/mxvenv && /work/mxvenv/bin/pip install mxnet==1.9.1 'numpy<1.24'
    cd tests/data && /work/mxvenv/bin/python record_mxnet_optimizers.py

MXNet 1.9.1 has the AdamW update kernel (``nd.contrib.adamw_update``) but registers no ``adamw``
optimizer, so this script registers one that calls that kernel with the bias-corrected rate MXNet's
later ``AdamW`` optimizer uses: ``lr_t = lr*sqrt(1-beta2**t)/(1-beta1**t)`` passed as ``eta`` with
``lr=1``, i.e. ``w -= lr_t*(m/(sqrt(v)+epsilon) + wd*w)`` (weight decay decoupled from the gradient).
Everything else is MXNet's own optimizers, schedulers and files.
"""
import json
import math
import os

import mxnet_optimizer_cases as cases


def _register_adamw(mx):
    """Register an ``adamw`` optimizer in MXNet that runs MXNet's own ``adamw_update`` kernel."""

    @mx.optimizer.register
    class AdamW(mx.optimizer.Optimizer):
        def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, **kwargs):
            super().__init__(learning_rate=learning_rate, **kwargs)
            self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

        def create_state(self, index, weight):
            return (mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype),
                    mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype))

        def update(self, index, weight, grad, state):
            self._update_count(index)
            lr, wd = self._get_lr(index), self._get_wd(index)
            t = self._index_update_count[index]
            lr_t = lr * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
            mean, var = state
            kwargs = {"clip_gradient": self.clip_gradient} if self.clip_gradient else {}
            mx.nd.contrib.adamw_update(weight, grad, mean, var,
                                       rescale_grad=mx.nd.array([self.rescale_grad], ctx=weight.context),
                                       lr=1.0, eta=lr_t, wd=wd, beta1=self.beta1, beta2=self.beta2,
                                       epsilon=self.epsilon, out=weight, **kwargs)


def main():
    # Imported here, not at module level: the test suite imports this file (doctest collection)
    # where MXNet is not installed.
    import mxnet as mx

    assert mx.__version__ == "1.9.1", mx.__version__
    _register_adamw(mx)
    result = cases.run(mx, mx.cpu())
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "mxnet_1_9_1_optimizers.json"), "w") as f:
        json.dump(result, f, indent=0, sort_keys=True)
        f.write("\n")
    print(len(result), "cases recorded")


if __name__ == "__main__":
    main()
