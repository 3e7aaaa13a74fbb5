"""The NumPy backend: printer, numeric helpers and emitter of the training module (template
``templates/numpy_module.py.j2``), printing :class:`symprop.codegen.model.TrainingModel`."""
