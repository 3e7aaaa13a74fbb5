"""The NumPy backend: printer, emitter (template in templates/numpy_module.py.j2)."""
