"""Where work items run: the scheduler contract, in-process and local schedulers, jobs, the result server."""
