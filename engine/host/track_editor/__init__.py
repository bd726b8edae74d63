"""The track editor: a local web page over a plate and its track (`doppel track edit`)."""
