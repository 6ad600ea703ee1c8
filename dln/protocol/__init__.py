"""What happens during training.

- `deficits`: deficits and lesions on sources or pathways, with their windows.
- `sources`: input sources (noisy views of one latent) and one pathway per source.
"""
