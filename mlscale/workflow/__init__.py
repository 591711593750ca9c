"""What the commands run: `run` (run and predict), `phases` and `context` (one run's phases and
what they share), `assessment` (evaluation and explanations logged as report sections), `plan`,
`explain`, `bench`."""
