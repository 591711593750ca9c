"""What every engine that tunes shares: `objective` (the tune and promote metric with its
direction, the best trial) and `state` (the tuning state `--resume` continues from)."""
