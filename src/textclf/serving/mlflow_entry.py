"""The file MLflow runs to load a textclf model (an MLflow "model from code").

A saved model carries this file and a copy of the serving package as ``textclf_serving`` in its
``code/`` folder, which MLflow puts on ``sys.path``: the model loads where textclf is not
installed. When textclf logs a model, MLflow runs this file once more, from textclf's own tree.
"""

import importlib.util

import mlflow

if importlib.util.find_spec("textclf_serving") is not None:  # loading a saved model
    from textclf_serving.pyfunc import python_model
else:  # textclf is saving one
    from textclf.serving.pyfunc import python_model

mlflow.models.set_model(python_model())
