package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/azblobstore"
)

// Azurite's development account and the key Microsoft publishes for it
// (learn.microsoft.com, "Use the Azurite emulator"): not a secret.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// defaultStoreDir is where -store's default directory store keeps its keys:
// every worker process on this host shares it, and it outlives them.
func defaultStoreDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "eventattach-worker", "keys")
	}
	return filepath.Join(os.TempDir(), "eventattach-worker-keys")
}

// openStore opens the idempotency store that -store names:
//
//	dir:PATH           a directory, for processes on one host (eventattach.NewDirStore)
//	blob:URL           a Blob Storage container (https://ACCOUNT.blob.core.windows.net/CONTAINER),
//	                   for replicas, signed in with azidentity.DefaultAzureCredential
//	azurite:URL        a container on Azurite (http://127.0.0.1:10000/devstoreaccount1/CONTAINER),
//	                   with Azurite's published development key; created if missing
func openStore(ctx context.Context, spec string) (eventattach.Store, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	if arg == "" {
		return nil, fmt.Errorf("-store %q: want dir:PATH, blob:CONTAINER_URL or azurite:CONTAINER_URL", spec)
	}
	switch kind {
	case "dir":
		if err := os.MkdirAll(arg, 0o700); err != nil {
			return nil, err
		}
		return eventattach.NewDirStore(arg)
	case "blob":
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, err
		}
		return azblobstore.NewFromURL(arg, cred, nil)
	case "azurite":
		cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
		if err != nil {
			return nil, err
		}
		c, err := container.NewClientWithSharedKeyCredential(arg, cred,
			&container.ClientOptions{ClientOptions: policy.ClientOptions{Retry: azblobstore.DefaultRetryOptions()}})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := c.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			var re *azcore.ResponseError
			if !errors.As(err, &re) {
				return nil, fmt.Errorf("azurite store %s: %w (is Azurite running? scripts/azurite.sh start)", arg, err)
			}
			return nil, fmt.Errorf("azurite store %s: %w", arg, err)
		}
		return azblobstore.New(c)
	}
	return nil, fmt.Errorf("-store %q: unknown kind %q (want dir, blob or azurite)", spec, kind)
}
