"""The search's strategy beside the search model: the FLOPs model, the supernet as a judge (selection by
perturbation), the convergence figures and the report of a search."""
