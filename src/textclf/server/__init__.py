"""A team's tracking server: MLflow's server with basic auth, on a private PostgreSQL cluster,
with its artifacts proxied from one folder (``textclf server start | status | stop``)."""
