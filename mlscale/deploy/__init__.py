"""Running a recipe elsewhere: `submit` (`mlscale submit`), `ray_jobs` (the Ray Jobs API),
`job_entry` (the entry point inside a job), `kuberay` (RayJob and RayCluster manifests)."""
