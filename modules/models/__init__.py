"""What the experiments build on top of LUMIN: model bodies and what their blocks learn, ensemble kinds, training
schedules and their records, and each model's configuration written out as data for the results JSON."""
