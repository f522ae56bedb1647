"""What travels with a saved model: the data-only format, its reader, decision rules, inference.

This package is copied into every saved model (as ``textclf_serving``) and runs wherever the model
is loaded, with or without textclf installed. So its modules import only each other (relatively)
and numpy, pandas, scikit-learn; torch and transformers only in ``inference`` for the transformer
models, onnxruntime and tokenizers only in ``int8`` for their int8 graphs; mlflow only in
``mlflow_entry``, the file MLflow runs on load.
"""
