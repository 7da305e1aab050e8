"""Experiment 17, the hyper-parameter search: the space of dense Swish bodies, random and Gaussian-process proposals,
trials saved one file each (so a search resumes, and several machines share one folder), the search loop and its
command, and the analysis of all machines' trials."""
