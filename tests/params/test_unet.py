from __future__ import annotations

import torch

from restyle.params.unet import UNet, UNetSpec, load_unet, unet_checkpoint


def test_non_square_input_keeps_its_shape_and_range() -> None:
    unet = UNet(UNetSpec(base_channels=4))
    out = unet(torch.rand(1, 3, 37, 50))
    assert out.shape == (1, 3, 37, 50)
    assert out.min() >= 0 and out.max() <= 1


def test_init_is_seeded() -> None:
    first, second = UNet(UNetSpec(base_channels=4, seed=5)), UNet(UNetSpec(base_channels=4, seed=5))
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    other = UNet(UNetSpec(base_channels=4, seed=6))
    assert not torch.equal(next(first.parameters()), next(other.parameters()))


def test_is_trainable_towards_a_target() -> None:
    unet = UNet(UNetSpec(base_channels=4))
    content, target = torch.rand(1, 3, 24, 40), torch.full((1, 3, 24, 40), 0.8)
    optimizer = torch.optim.Adam(unet.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = (unet(content) - target).square().mean()
        loss.backward()
        losses.append(float(loss.detach()))
        optimizer.step()
    assert all(p.grad is not None for p in unet.parameters())
    assert losses[-1] < 0.5 * losses[0]


def test_checkpoint_round_trip(tmp_path) -> None:
    unet = UNet(UNetSpec(base_channels=4, seed=2)).eval()
    torch.save(unet_checkpoint(unet), tmp_path / "m.pt")
    again = load_unet(torch.load(tmp_path / "m.pt", weights_only=True))
    content = torch.rand(1, 3, 20, 30)
    torch.testing.assert_close(again(content), unet(content))
