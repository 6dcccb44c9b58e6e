"""Generation stage: engines that turn a photo + preset into a lossless master clip."""
