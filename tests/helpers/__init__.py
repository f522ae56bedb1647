"""What tests share: running train.py and textclf as users do, reading stores, building configs."""
