# vss-restore: Windows disks of EBS volumes, for restores that do not stop the instance.
# Parameters come from the SSM document; their allowed patterns keep quotes out of them.
#
# Output: the first line is "VSS-RESTORE-RESULT {json}", then at most the last 40 progress
# lines. Run Command keeps only the first 24,000 characters of output, so nothing is printed
# while the work runs (warnings are silenced, other output discarded) and the result comes
# first. A failure still prints the result (with Error), then exits 1.
$ErrorActionPreference = 'Stop'
$WarningPreference = 'SilentlyContinue'
$ProgressPreference = 'SilentlyContinue'
$action = '{{ Action }}'
$volumeIds = @('{{ VolumeIds }}' -split ',' | Where-Object { $_ })
$services = @('{{ Services }}' -split ',' | Where-Object { $_ })
$purpose = '{{ Purpose }}'

$result = [ordered]@{ Action = $action; Disks = @(); Services = @(); Error = $null }
$log = New-Object System.Collections.Generic.List[string]
# What Offline stopped, kept on the instance (not in the command's output) so that Online
# starts it again even after an Offline whose result never reached the workflow.
$recordPath = Join-Path $env:ProgramData 'vss-restore\stopped-services.json'
# Partition types of dynamic (LDM) disks: MBR type 0x42; GPT LDM metadata and data.
$ldmMbrType = 66
$ldmGptTypes = @('5808c8aa-7e8f-42e0-85d2-e1e90434cfb3', 'af9b60a0-1431-4f62-bc68-3311714a69ad')
# Partitions that take a drive letter: GPT basic data; MBR FAT12/16, huge, IFS, FAT32 (LBA).
$basicDataGptType = 'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7'
$dataMbrTypes = @(1, 4, 6, 7, 11, 12, 14)
# MSFT_Disk values, never their localized names: OfflineReason 4 is a signature or identifier
# collision with another disk; PartitionStyle 1 is MBR, 2 is GPT.
$offlineReasonCollision = 4
$styleMbr = 1
$styleGpt = 2
# The drive letters a data volume can take (A and B are the floppy letters, C the system).
$dataLetters = @('D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S',
    'T', 'U', 'V', 'W', 'X', 'Y', 'Z')
# BitLocker's WMI class, there only where the BitLocker feature is installed. Its numbers:
# ProtectionStatus 1 is protection on; GetLockStatus's LockStatus 1 is locked.
$bitLockerNamespace = 'root\cimv2\Security\MicrosoftVolumeEncryption'
$protectionOn = 1
$lockedStatus = 1

function Write-Log([string]$Text) {
    if ($Text.Length -gt 300) { $Text = $Text.Substring(0, 300) }
    $log.Add($Text)
    if ($log.Count -gt 40) { $log.RemoveAt(0) }
}

function Get-Raw($Object, [string]$Name) {
    # The CIM property's value itself: a number for an enum, never a display string.
    if ($null -eq $Object -or $null -eq $Object.CimInstanceProperties) { return $null }
    $property = $Object.CimInstanceProperties[$Name]
    if ($property) { return $property.Value }
    return $null
}

function Get-SerialVolumeId([string]$Serial) {
    # Windows reports an EBS volume's id, without its hyphen, as the NVMe disk's serial
    # number (possibly followed by "_<namespace>"). Disk numbers change: never use them.
    if (-not $Serial) { return '' }
    $value = ($Serial -split '_')[0].Trim().ToLowerInvariant()
    if ($value -match '^vol[0-9a-f]{8,17}$') { return 'vol-' + $value.Substring(3) }
    return ''
}

function Find-VolumeDisks([string[]]$Ids) {
    # Every disk of $Ids that Windows shows, by volume id; waits up to a minute for disks
    # that were just attached. Two disks with one volume id's serial is an error.
    $found = @{}
    for ($try = 0; $try -lt 30; $try++) {
        Update-HostStorageCache
        $found = @{}
        foreach ($disk in @(Get-Disk)) {
            $id = Get-SerialVolumeId $disk.SerialNumber
            if ($id -and ($Ids -contains $id)) {
                if ($found.ContainsKey($id)) { throw "two disks have the serial number of $id" }
                $found[$id] = $disk
            }
        }
        if ($found.Count -eq $Ids.Count) { break }
        Start-Sleep -Seconds 2
    }
    return $found
}

function Get-PoolMembership([string]$VolumeId) {
    # The storage pool (Storage Spaces) a volume's disk belongs to, if any: pool membership
    # is a physical disk's (Get-StoragePool -PhysicalDisk), whether Get-Disk shows it or not.
    foreach ($physical in @(Get-PhysicalDisk -ErrorAction SilentlyContinue)) {
        if ((Get-SerialVolumeId $physical.SerialNumber) -ne $VolumeId) { continue }
        $pools = @(Get-StoragePool -PhysicalDisk $physical -IsPrimordial $false `
                -ErrorAction SilentlyContinue)
        if ($pools.Count -eq 0) { return $null }
        $members = @(Get-PhysicalDisk -StoragePool $pools[0] | ForEach-Object {
                Get-SerialVolumeId $_.SerialNumber })
        return @{ Pool = "$($pools[0].FriendlyName)"; Members = $members }
    }
    return $null
}

function Get-DiskRefusal($Disk) {
    # Why Windows cannot take this disk offline, or why doing so alone would break a volume;
    # $null if it can go. Booleans and numbers only: display strings are localized.
    if ($Disk.IsBoot -or $Disk.IsSystem) { return 'it holds the boot or system volume' }
    if ($Disk.IsClustered) { return 'it is a clustered disk (managed by the failover cluster)' }
    $partitions = @(Get-Partition -DiskNumber $Disk.Number -ErrorAction SilentlyContinue)
    $letters = @($partitions | Where-Object { $_.DriveLetter } |
        ForEach-Object { "$($_.DriveLetter)".ToUpperInvariant() })
    foreach ($pageFile in @(Get-CimInstance -ClassName Win32_PageFileUsage `
                -ErrorAction SilentlyContinue)) {
        $letter = "$($pageFile.Name)".Substring(0, 1).ToUpperInvariant()
        if ($letters -contains $letter) { return "it holds a page file ($($pageFile.Name))" }
    }
    return $null
}

function Get-EncryptableVolumes {
    # BitLocker's view of the volumes, by volume path (\\?\Volume{guid}\); none without the
    # BitLocker feature.
    $byPath = @{}
    foreach ($volume in @(Get-CimInstance -Namespace $bitLockerNamespace `
                -ClassName Win32_EncryptableVolume -ErrorAction SilentlyContinue)) {
        $byPath["$($volume.DeviceID)".ToLowerInvariant()] = $volume
    }
    return $byPath
}

function Get-BitLockerState($Partition, $Encryptable) {
    # 'Locked'; 'UnlockedByHand' (protected, no auto-unlock: a copy of it arrives locked); or
    # $null (not encrypted, protection suspended, or auto-unlocked).
    foreach ($path in @($Partition.AccessPaths)) {
        $volume = $Encryptable["$path".ToLowerInvariant()]
        if (-not $volume) { continue }
        $lock = Invoke-CimMethod -InputObject $volume -MethodName GetLockStatus
        if ($lock.LockStatus -eq $lockedStatus) { return 'Locked' }
        if ($volume.ProtectionStatus -ne $protectionOn) { return $null }
        $auto = Invoke-CimMethod -InputObject $volume -MethodName IsAutoUnlockEnabled
        if (-not $auto.IsAutoUnlockEnabled) { return 'UnlockedByHand' }
        return $null
    }
    return $null
}

function Get-PartitionName($Partition) {
    if ($Partition.DriveLetter) { return "$($Partition.DriveLetter):" }
    return "partition $($Partition.PartitionNumber)"
}

function Get-BitLockerRefusal($Disk) {
    # A restore swaps a disk whose volume the application reads: a volume locked now, or one
    # unlocked by hand (its copy comes up locked, with no one there to unlock it), is refused.
    $encryptable = Get-EncryptableVolumes
    if ($encryptable.Count -eq 0) { return $null }
    foreach ($partition in @(Get-Partition -DiskNumber $Disk.Number -ErrorAction SilentlyContinue)) {
        $state = Get-BitLockerState $partition $encryptable
        $name = Get-PartitionName $partition
        if ($state -eq 'Locked') { return "its volume $name is locked by BitLocker" }
        if ($state -eq 'UnlockedByHand') {
            return ("its volume $name is protected by BitLocker without auto-unlock: the " +
                'restored copy would come up locked, unreadable by the services')
        }
    }
    return $null
}

function Test-DynamicDisk($Disk) {
    $partitions = @(Get-Partition -DiskNumber $Disk.Number -ErrorAction SilentlyContinue)
    foreach ($partition in $partitions) {
        $gpt = "$(Get-Raw $partition 'GptType')".Trim('{', '}').ToLowerInvariant()
        if ((Get-Raw $partition 'MbrType') -eq $ldmMbrType -or $ldmGptTypes -contains $gpt) {
            return $true
        }
    }
    return $false
}

function Assert-DisksCanGoOffline($Disks) {
    # Refuses, before anything changes, a disk Windows cannot take offline and a disk that
    # holds part of a volume spanning several disks unless all of them are requested.
    $requested = @($Disks.Keys)
    foreach ($id in $requested) {
        $reason = Get-DiskRefusal $Disks[$id]
        if ($reason) { throw "refused: the disk of $id cannot be taken offline: $reason" }
        # A rollback's or an unmount's Offline takes a locked copy away all the same.
        if ($purpose -eq 'Restore' -and -not $Disks[$id].IsOffline) {
            $reason = Get-BitLockerRefusal $Disks[$id]
            if ($reason) { throw "refused: the disk of $id cannot be restored online: $reason" }
        }
    }
    # Dynamic disks share one disk group whose volumes may span, stripe or mirror across any
    # of them: all the instance's dynamic disks go offline together, or none.
    $dynamic = @()
    foreach ($disk in @(Get-Disk)) {
        if (Test-DynamicDisk $disk) {
            $id = Get-SerialVolumeId $disk.SerialNumber
            if (-not $id) { $id = "disk $($disk.Number) (not an EBS volume)" }
            $dynamic += $id
        }
    }
    # Only a disk online and writable can hold a volume in use: an offline one (a restored disk
    # that arrived offline) or a read-only one (a mounted copy being unmounted) goes alone.
    $dynamicRequested = @($requested | Where-Object {
            $inUse = -not $Disks[$_].IsOffline -and -not $Disks[$_].IsReadOnly
            ($dynamic -contains $_) -and $inUse })
    if ($dynamicRequested.Count -gt 0) {
        $missing = @($dynamic | Where-Object { $requested -notcontains $_ })
        if ($missing.Count -gt 0) {
            throw ("refused: the disk of $($dynamicRequested -join ', ') is a dynamic disk, " +
                'whose volumes may span several disks: every dynamic disk of the instance ' +
                "must be restored with it, and these are not requested: $($missing -join ', ')")
        }
    }
}

function Get-RunningDependents([string]$Name) {
    # Every running service that depends on $Name, directly or not: Stop-Service -Force
    # stops them with it.
    $found = New-Object System.Collections.Generic.List[string]
    $pending = @(Get-Service -Name $Name)
    while ($pending.Count -gt 0) {
        $next = @()
        foreach ($service in $pending) {
            foreach ($dependent in @($service.DependentServices)) {
                # An enum's name, never localized.
                $isRunning = "$($dependent.Status)" -eq 'Running'
                if ($isRunning -and -not $found.Contains($dependent.Name)) {
                    $found.Add($dependent.Name)
                    $next += $dependent
                }
            }
        }
        $pending = $next
    }
    return $found.ToArray()
}

function Read-Record {
    $record = @{}
    if (Test-Path -LiteralPath $recordPath) {
        $saved = Get-Content -LiteralPath $recordPath -Raw | ConvertFrom-Json
        foreach ($property in $saved.PSObject.Properties) {
            $record[$property.Name] = @($property.Value | Where-Object { $_ })
        }
    }
    return $record
}

function Write-Record($Record) {
    $folder = Split-Path -Parent $recordPath
    if (-not (Test-Path -LiteralPath $folder)) {
        $null = New-Item -ItemType Directory -Path $folder
    }
    $Record | ConvertTo-Json -Compress | Set-Content -LiteralPath $recordPath -Encoding ASCII
}

function Start-Named([string]$Name) {
    # A service that will not start is reported after the others have been started.
    try {
        Start-Service -Name $Name -WarningAction SilentlyContinue
        return $null
    } catch {
        return "${Name}: $($_.Exception.Message)"
    }
}

function Get-ServiceStatus([string]$Name) {
    $service = Get-Service -Name $Name -ErrorAction SilentlyContinue
    if (-not $service) { return 'NotFound' }
    return "$($service.Status)"
}

function Get-DiskIdentity($Disk) {
    # What Windows tells disks apart by: the MBR signature or the GPT disk GUID (numbers and
    # GUIDs, never display strings); '' for a disk with neither.
    $style = Get-Raw $Disk 'PartitionStyle'
    if ($style -eq $styleMbr) {
        $signature = Get-Raw $Disk 'Signature'
        if ($signature) { return "MBR signature $signature" }
    }
    if ($style -eq $styleGpt) {
        $guid = "$(Get-Raw $Disk 'Guid')".Trim('{', '}').ToLowerInvariant()
        if ($guid) { return "GPT disk GUID $guid" }
    }
    return ''
}

function Get-IdentityOwner($Disk) {
    # The number of another online disk with this disk's identity, or $null.
    $identity = Get-DiskIdentity $Disk
    if (-not $identity) { return $null }
    foreach ($other in @(Get-Disk)) {
        if ($other.Number -eq $Disk.Number -or $other.IsOffline) { continue }
        if ((Get-DiskIdentity $other) -eq $identity) { return $other.Number }
    }
    return $null
}

function Get-Collision($Disk) {
    # Why an offline disk collides with a disk that is online here, or $null: Windows keeps
    # it offline for a signature or identifier collision (OfflineReason 4), or its identity
    # is an online disk's (the collision Windows would find when it comes online).
    if (-not $Disk.IsOffline) { return $null }
    if ((Get-Raw $Disk 'OfflineReason') -eq $offlineReasonCollision) {
        return 'Windows keeps it offline for a signature or identifier collision'
    }
    $owner = Get-IdentityOwner $Disk
    if ($null -ne $owner) { return "its $(Get-DiskIdentity $Disk) is that of online disk $owner" }
    return $null
}

function Set-DiskOnline($Id, $Disk) {
    # Online (a restore's or a rollback's): a disk that collides with an online disk is a
    # copy of a disk still attached here (the original, or another copy of it). A new
    # identity would change the one Windows keys the volumes' drive letters by: the disk is
    # refused and left as it is.
    $collision = Get-Collision $Disk
    if ($collision) {
        throw ("refused: the disk of $Id collides with a disk that is online on this " +
            "instance ($collision): the original or another copy of it is still attached; " +
            'the disk was left offline')
    }
    if ($Disk.IsOffline) { Set-Disk -Number $Disk.Number -IsOffline $false }
    Set-Disk -Number $Disk.Number -IsReadOnly $false
}

function Set-NewIdentity([int]$Number) {
    # A copy's own identity: a new MBR signature or GPT disk GUID (Set-Disk -Signature or
    # -Guid; MSFT_Disk.SetAttributes sets most attributes of an online disk only). No cmdlet
    # sets a GPT partition's own GUID: the partitions keep theirs.
    $disk = Get-Disk -Number $Number
    $style = Get-Raw $disk 'PartitionStyle'
    if ($style -eq $styleGpt) {
        Set-Disk -Number $Number -Guid ([guid]::NewGuid().ToString('B'))
    } elseif ($style -eq $styleMbr) {
        Set-Disk -Number $Number -Signature ([uint32](Get-Random -Minimum 1 -Maximum 2147483647))
    } else {
        throw "disk $Number has neither an MBR nor a GPT partition table"
    }
}

function Mount-DiskReadOnly($Disk) {
    # A mount never makes a disk writable, so a retry keeps it read-only. A disk that
    # collides goes online, gets its own identity, then read-only; any other is made
    # read-only first, while still offline, where Windows accepts it, and again once online,
    # before any drive letter is added.
    $number = $Disk.Number
    $collision = Get-Collision $Disk
    if (-not $collision -and $Disk.IsOffline -and -not $Disk.IsReadOnly) {
        try {
            Set-Disk -Number $number -IsReadOnly $true
        } catch {
            Write-Log "disk ${number}: read-only once online ($($_.Exception.Message))"
        }
    }
    if ($Disk.IsOffline) { Set-Disk -Number $number -IsOffline $false }
    # Still another online disk's identity once online: it gets its own.
    if ($null -ne (Get-IdentityOwner (Get-Disk -Number $number))) {
        Set-NewIdentity $number
        $collision = 'identity reset'
    }
    Set-Disk -Number $number -IsReadOnly $true
    Add-DriveLetters $number
    return [bool]$collision
}

function Get-DriveLetters([int]$Number) {
    @(Get-Partition -DiskNumber $Number -ErrorAction SilentlyContinue |
        Where-Object { $_.DriveLetter } | ForEach-Object { "$($_.DriveLetter)" })
}

function Get-FolderPaths($Partition) {
    # The folders a volume is mounted in (C:\Data\), not its letter's root (D:\) nor its
    # volume path (\\?\Volume{guid}\).
    @($Partition.AccessPaths | Where-Object {
            $_ -and "$_" -notmatch '^[A-Za-z]:\\$' -and "$_" -notmatch '^\\\\\?\\' } |
        ForEach-Object { "$_" })
}

function Test-DataPartition($Partition) {
    # A partition that takes a drive letter, by its type's GUID or MBR number (never the
    # localized Type text): not hidden, not reserved, system, recovery or extended.
    if ($Partition.IsHidden) { return $false }
    $gpt = "$(Get-Raw $Partition 'GptType')".Trim('{', '}').ToLowerInvariant()
    return ($gpt -eq $basicDataGptType) -or ($dataMbrTypes -contains (Get-Raw $Partition 'MbrType'))
}

function Test-WantsLetter($Partition) {
    # A volume mounted in a folder has no letter by design.
    if ($Partition.DriveLetter -or $Partition.NoDefaultDriveLetter) { return $false }
    if (@(Get-FolderPaths $Partition).Count -gt 0) { return $false }
    return Test-DataPartition $Partition
}

function Wait-DriveLetters($Numbers) {
    # Windows gives a disk's volumes their letters back shortly after it comes online; the
    # services start once every data partition has one, or after a minute at the most.
    for ($try = 0; $try -lt 30; $try++) {
        $waiting = @($Numbers | Where-Object {
                @(Get-Partition -DiskNumber $_ -ErrorAction SilentlyContinue |
                    Where-Object { Test-WantsLetter $_ }).Count -gt 0 })
        if ($waiting.Count -eq 0) { return }
        Start-Sleep -Seconds 2
    }
    Write-Log "disks $($waiting -join ', ') still have data partitions without a drive letter"
}

function Add-DriveLetters([int]$Number) {
    Get-Partition -DiskNumber $Number | Where-Object {
        -not $_.DriveLetter -and (Test-DataPartition $_) } |
        ForEach-Object {
            Add-PartitionAccessPath -DiskNumber $Number -PartitionNumber $_.PartitionNumber `
                -AssignDriveLetter
        }
}

function Get-FreeLetters {
    # D: to Z: less every letter in use: volumes, and what else Windows shows as a logical
    # disk (CD-ROM drives, mapped network drives).
    $used = @(Get-CimInstance -ClassName Win32_LogicalDisk -ErrorAction SilentlyContinue |
        ForEach-Object { "$($_.DeviceID)".Substring(0, 1).ToUpperInvariant() })
    $used += @(Get-Partition -ErrorAction SilentlyContinue | Where-Object { $_.DriveLetter } |
        ForEach-Object { "$($_.DriveLetter)".ToUpperInvariant() })
    return @($dataLetters | Where-Object { $used -notcontains $_ })
}

function Get-LettersNeeded($Disk) {
    # One per data partition that has none yet; one for a disk whose partitions Windows does
    # not list (a disk with a letter already needs none: a retry).
    $partitions = @(Get-Partition -DiskNumber $Disk.Number -ErrorAction SilentlyContinue)
    if (@($partitions | Where-Object { $_.DriveLetter }).Count -gt 0) { return 0 }
    $data = @($partitions | Where-Object { Test-DataPartition $_ })
    return [Math]::Max(1, $data.Count)
}

function Add-DiskState([string]$Id, [int]$Number, [bool]$Reset) {
    $now = Get-Disk -Number $Number
    $folders = @()
    $locked = @()
    if (-not $now.IsOffline) {
        # Where each volume can be read: its letter or folders, unless BitLocker keeps it locked.
        $encryptable = Get-EncryptableVolumes
        foreach ($partition in @(Get-Partition -DiskNumber $Number -ErrorAction SilentlyContinue)) {
            $folders += @(Get-FolderPaths $partition)
            if ((Get-BitLockerState $partition $encryptable) -eq 'Locked') {
                $locked += Get-PartitionName $partition
            }
        }
    }
    $result.Disks += [ordered]@{
        VolumeId = $Id; DiskNumber = $now.Number; Offline = [bool]$now.IsOffline
        ReadOnly = [bool]$now.IsReadOnly; SignatureReset = $Reset
        DriveLetters = @(Get-DriveLetters $now.Number); FolderPaths = @($folders)
        LockedVolumes = @($locked)
    }
}

function Invoke-Offline {
    # 1. Everything is checked before anything changes: services, disks, refusals.
    foreach ($name in $services) { $null = Get-Service -Name $name }
    foreach ($id in $volumeIds) {
        # The pool's volumes live on its virtual disks, spread over every member: swapping
        # members under it, even all of them, is not something Storage Spaces documents.
        $pool = Get-PoolMembership $id
        if ($pool) {
            throw ("refused: the disk of $id is a member of the storage pool " +
                "'$($pool.Pool)' (members: $($pool.Members -join ', ')), whose volumes span " +
                'its members: a pooled disk is not swapped online')
        }
    }
    $disks = Find-VolumeDisks $volumeIds
    foreach ($id in $volumeIds) {
        if ($disks.ContainsKey($id)) { continue }
        throw "no disk has the serial number $($id.Replace('-', '')) of $id; nothing was changed"
    }
    Assert-DisksCanGoOffline $disks
    # 2. The running dependents each service stops with, recorded before the first stop.
    # Added to what an earlier Offline recorded: a second Offline (a rollback's) finds the
    # service, and so its dependents, already stopped.
    $record = Read-Record
    foreach ($name in $services) {
        $known = @($record[$name] | Where-Object { $_ })
        $record[$name] = @($known + @(Get-RunningDependents $name) | Select-Object -Unique)
    }
    Write-Record $record
    # 3. Services, then disks.
    foreach ($name in $services) {
        Write-Log "stopping $name (with $($record[$name] -join ', '))"
        Stop-Service -Name $name -Force -WarningAction SilentlyContinue
        $result.Services += [ordered]@{
            Name = $name; Status = (Get-ServiceStatus $name); StoppedWith = @($record[$name])
        }
    }
    foreach ($id in $volumeIds) {
        $disk = $disks[$id]
        if (-not $disk.IsOffline) { Set-Disk -Number $disk.Number -IsOffline $true }
        Write-Log "disk of $id offline"
        Add-DiskState $id $disk.Number $false
    }
}

function Invoke-Online {
    # Whatever disks it finds come online, and the services start, before it reports a disk
    # it could not find: a rollback must never leave the application down.
    $problems = @()
    $disks = Find-VolumeDisks $volumeIds
    if ($purpose -eq 'Restore') {
        # A restore's Online brings nothing up unless every disk can come up: the rollback
        # that follows puts the originals back and starts the services on them.
        $refused = @()
        foreach ($id in $volumeIds) {
            if (-not $disks.ContainsKey($id)) {
                $refused += "no disk has the serial number $($id.Replace('-', '')) of $id"
                continue
            }
            $collision = Get-Collision $disks[$id]
            if ($collision) { $refused += "the disk of $id collides ($collision)" }
        }
        if ($refused.Count -gt 0) {
            throw ("refused: $($refused -join '; '); no disk was brought online and no " +
                'service started: the rollback puts the originals back')
        }
    }
    $numbers = @()
    foreach ($id in $volumeIds) {
        if (-not $disks.ContainsKey($id)) { continue }
        try {
            Set-DiskOnline $id $disks[$id]
            $numbers += $disks[$id].Number
            Write-Log "disk of $id online"
        } catch {
            $problems += "disk of ${id}: $($_.Exception.Message)"
        }
        Add-DiskState $id $disks[$id].Number $false
    }
    Wait-DriveLetters $numbers
    $record = Read-Record
    $dependents = New-Object System.Collections.Generic.List[string]
    foreach ($name in $services) {
        if (-not (Get-Service -Name $name -ErrorAction SilentlyContinue)) {
            # Never stopped (Offline checks every name first): a rollback after a failed
            # Offline lists it, and must still start the others.
            $result.Services += [ordered]@{ Name = $name; Status = 'NotFound' }
            continue
        }
        $problems += @(Start-Named $name | Where-Object { $_ })
        $result.Services += [ordered]@{ Name = $name; Status = (Get-ServiceStatus $name) }
        foreach ($dependent in @($record[$name])) {
            if ($dependent -and -not $dependents.Contains($dependent)) {
                $dependents.Add($dependent)
            }
        }
    }
    foreach ($name in $dependents) {
        $problems += @(Start-Named $name | Where-Object { $_ })
        $owner = @($services | Where-Object { @($record[$_]) -contains $name })[0]
        $result.Services += [ordered]@{
            Name = $name; Status = (Get-ServiceStatus $name); DependentOf = $owner
        }
    }
    $missing = @($volumeIds | Where-Object { -not $disks.ContainsKey($_) })
    if ($missing.Count -gt 0) {
        $problems += "no disk has the serial number of $($missing -join ', ')"
    }
    if ($problems.Count -eq 0) {
        # Kept while anything failed: the next Online (a rollback's) starts them again.
        foreach ($name in $services) { $record.Remove($name) }
        Write-Record $record
    } else {
        throw "$($problems -join '; ') (every other disk online, every other service started)"
    }
}

function Invoke-MountReadOnly {
    $disks = Find-VolumeDisks $volumeIds
    $missing = @($volumeIds | Where-Object { -not $disks.ContainsKey($_) })
    if ($missing.Count -gt 0) { throw "no disk has the serial number of $($missing -join ', ')" }
    # Every volume gets a drive letter: refused before any disk changes if too few are free.
    $needed = 0
    foreach ($id in $volumeIds) { $needed += Get-LettersNeeded $disks[$id] }
    $free = @(Get-FreeLetters)
    if ($needed -gt $free.Count) {
        throw ("refused: the disks of $($volumeIds -join ', ') need $needed drive letter(s) " +
            "and $($free.Count) of D: to Z: are free ($($free -join ', ')); nothing was " +
            'changed: mount fewer volumes')
    }
    foreach ($id in $volumeIds) {
        $disk = $disks[$id]
        $reset = Mount-DiskReadOnly $disk
        Write-Log "disk of $id mounted read-only"
        Add-DiskState $id $disk.Number $reset
    }
}

$failure = $null
try {
    # Nothing the work writes reaches the output before the result line.
    $null = . {
        switch ($action) {
            'Offline' { Invoke-Offline }
            'Online' { Invoke-Online }
            'MountReadOnly' { Invoke-MountReadOnly }
            default { throw "unknown action $action" }
        }
    }
} catch {
    $failure = $_
    $result.Error = "$($_.Exception.Message)"
}
# The workflow reads this line, wherever it is in the output; the lines after it are for people.
Write-Output ('VSS-RESTORE-RESULT ' + ($result | ConvertTo-Json -Compress -Depth 4))
foreach ($line in $log) { Write-Output $line }
if ($failure) {
    [Console]::Error.WriteLine("$($failure.Exception.Message)")
    exit 1
}
